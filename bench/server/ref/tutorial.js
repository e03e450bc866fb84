// The file server of Automerge's "Remote storage" tutorial, as it stands: POST overwrites.
// Changes from the tutorial, all for the benchmark: the port comes from argv[2] / $PORT
// (default 5000), the data directory from argv[3] / $DATA_DIR (default ./data beside this
// file), and the body limit is raised from '100kb' to '64mb' so that the benchmark's
// ~100 KB and ~1 MB documents fit. The per-GET console.log('sending') is kept.
const express = require('express')
const path = require('path')
const fs = require('fs')
const cors = require('cors')
const bodyParser = require('body-parser')

const port = Number(process.argv[2] || process.env.PORT || 5000)
const dataDir = path.resolve(process.argv[3] || process.env.DATA_DIR || path.join(__dirname, 'data'))

let app = express()
var options = {
	inflate: true,
	limit: '64mb',
	type: 'application/octet-stream'
}
app.use(bodyParser.raw(options))

try {
	fs.mkdirSync(dataDir)
} catch (err) {
	if (err.code !== 'EEXIST') {
		console.error(err)
	}
}

app.use(cors())

app.get('/:id', (req, res) => {
	let id = req.params.id
	let filename = path.join(dataDir, id)
	fs.stat(filename, (err, stats) => {
		if (err) {
			console.error(err)
			res.status(404).send('Not found')
		} else {
			res.sendFile(filename)
			console.log('sending')
		}
	})
})

app.post('/:id', (req, res) => {
	let id = req.params.id
	fs.writeFileSync(path.join(dataDir, id), req.body)
	res.status(200).send('ok')
})

app.listen(port, '127.0.0.1', () => {
	console.log('listening on http://localhost:' + port)
})
