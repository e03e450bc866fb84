// The tutorial's exercise solved the obvious way: on upload, load the stored file and the
// body, Automerge.merge them, Automerge.save the result and write it over the file. Uploads
// to one id are serialised by an in-process lock (a promise chain per id), so two devices
// uploading at once both end up in the stored copy. Everything else is tutorial.js.
const express = require('express')
const path = require('path')
const fs = require('fs')
const cors = require('cors')
const bodyParser = require('body-parser')
const Automerge = require('@automerge/automerge')

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

// id -> tail of that id's promise chain
const locks = new Map()

function withLock(id, fn) {
	const prev = locks.get(id) || Promise.resolve()
	const run = prev.then(fn, fn)
	const tail = run.catch(() => {})
	locks.set(id, tail)
	tail.then(() => { if (locks.get(id) === tail) locks.delete(id) })
	return run
}

async function mergeUpload(filename, body) {
	let incoming = Automerge.load(new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
	let stored = null
	try {
		stored = await fs.promises.readFile(filename)
	} catch (err) {
		if (err.code !== 'ENOENT') throw err
	}
	let merged = stored ? Automerge.merge(Automerge.load(stored), incoming) : incoming
	await fs.promises.writeFile(filename, Automerge.save(merged))
}

app.post('/:id', (req, res) => {
	let id = req.params.id
	if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
		res.status(400).send('expected an Automerge document')
		return
	}
	let filename = path.join(dataDir, id)
	withLock(id, () => mergeUpload(filename, req.body)).then(
		() => res.status(200).send('ok'),
		(err) => { console.error(err); res.status(400).send('bad document') })
})

app.listen(port, '127.0.0.1', () => {
	console.log('listening on http://localhost:' + port)
})
