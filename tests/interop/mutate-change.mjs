// Semantic mutations of a change, for the differential test of verify.mjs: one field of a
// change decoded by Automerge.decodeChange is altered (an op's object, key, element, preds,
// action, value or flags; the change's seq, startOp, deps, actor or time; an op dropped,
// doubled or moved), and Automerge.encodeChange makes a well-formed chunk of it, with its own
// hash. Such changes reach past the chunk and column checks that flipped bytes stop at, into
// what a document may hold.

const CHANGE_KINDS = ['seq', 'startOp', 'depDrop', 'depAdd', 'depDup', 'actorNew', 'actorOther', 'time']
const OP_KINDS = ['pred+', 'pred-', 'predSwap', 'obj', 'objRoot', 'elem', 'key', 'insert', 'action',
  'value', 'counter', 'keyToElem', 'elemToKey', 'markName', 'expand', 'opDrop', 'opDup', 'opSwap']

/**
 * Alters `change` (decodeChange's object, without its hash) in place, using `rng` (rng.mjs)
 * and `earlier` (the decoded changes before it, for ids and hashes that exist). Returns the
 * kind of mutation, or null if the drawn kind does not apply to this change.
 */
export function mutateChange(rng, change, earlier) {
  const ids = []
  for (const c of earlier) c.ops.forEach((_, i) => ids.push(`${c.startOp + i}@${c.actor}`))
  // Mostly an op id that exists, sometimes one that does not.
  const someId = () => (ids.length && rng.chance(0.8)
    ? rng.pick(ids)
    : `${rng.int(1, 500)}@${rng.pick([change.actor, rng.hex(16)])}`)
  const ops = change.ops
  const op = ops.length ? rng.pick(ops) : null
  const kind = rng.pick([...CHANGE_KINDS, ...OP_KINDS])
  if (OP_KINDS.includes(kind) && !op) return null
  switch (kind) {
    case 'seq': change.seq += rng.pick([-1, 1, 2]); break
    case 'startOp': change.startOp += rng.pick([-5, -1, 1, 7]); break
    case 'depDrop':
      if (!change.deps.length) return null
      change.deps.splice(rng.int(0, change.deps.length - 1), 1)
      break
    case 'depAdd':
      change.deps.push(earlier.length && rng.chance(0.7) ? rng.pick(earlier).hash : rng.hex(32))
      change.deps.sort()
      break
    case 'depDup':
      if (!change.deps.length) return null
      change.deps.push(change.deps[0])
      change.deps.sort()
      break
    case 'actorNew': change.actor = rng.hex(16); break
    case 'actorOther': {
      const others = [...new Set(earlier.map((c) => c.actor))].filter((a) => a !== change.actor)
      if (!others.length) return null
      change.actor = rng.pick(others)
      break
    }
    case 'time': change.time = rng.pick([-1, 0, 1, 2 ** 52]); break
    case 'pred+': op.pred = [...(op.pred ?? []), someId()]; break
    case 'pred-':
      if (!op.pred?.length) return null
      op.pred.splice(rng.int(0, op.pred.length - 1), 1)
      break
    case 'predSwap':
      if (!op.pred?.length) return null
      op.pred[rng.int(0, op.pred.length - 1)] = someId()
      break
    case 'obj': op.obj = someId(); break
    case 'objRoot':
      op.obj = '_root'
      if (op.elemId !== undefined) {
        delete op.elemId
        op.key = 'k'
      }
      break
    case 'elem':
      if (op.elemId === undefined) return null
      op.elemId = rng.chance(0.2) ? '_head' : someId()
      break
    case 'key':
      if (op.key === undefined) return null
      op.key = rng.pick(['', 'a', 'x', 'title', '\u{1F600}'])
      break
    case 'insert':
      if (op.elemId === undefined) return null
      op.insert = !op.insert
      break
    case 'action':
      op.action = rng.pick(['makeMap', 'set', 'makeList', 'makeText', 'del', 'inc', 'makeTable', 'mark'])
      if (op.action === 'inc') op.value = rng.int(-3, 3)
      if (op.action === 'set' && op.value === undefined) op.value = 1
      break
    case 'value':
      op.value = rng.pick([0, -1, 2 ** 40, 'str', null, true, 1.5, new Uint8Array([1, 2])])
      if (rng.chance(0.3)) op.datatype = rng.pick(['counter', 'timestamp', 'int', 'uint', 'float64', 'str', 'bytes'])
      break
    case 'counter':
      op.datatype = 'counter'
      if (typeof op.value !== 'number') op.value = 1
      break
    case 'keyToElem':
      if (op.key === undefined) return null
      delete op.key
      op.elemId = rng.chance(0.3) ? '_head' : someId()
      break
    case 'elemToKey':
      if (op.elemId === undefined) return null
      delete op.elemId
      delete op.insert
      op.key = 'k'
      break
    case 'markName':
      if (op.action !== 'mark') return null
      op.name = rng.pick(['', 'bold', 'x'.repeat(300)])
      break
    case 'expand': op.expand = !op.expand; break
    case 'opDrop': ops.splice(ops.indexOf(op), 1); break
    case 'opDup': ops.splice(ops.indexOf(op), 0, structuredClone(op)); break
    case 'opSwap': {
      if (ops.length < 2) return null
      const i = rng.int(0, ops.length - 2)
      ;[ops[i], ops[i + 1]] = [ops[i + 1], ops[i]]
      break
    }
  }
  return kind
}
