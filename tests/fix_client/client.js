#!/usr/bin/env node
// A FIX 4.4 initiator on jspurefix, driven by a test (or a person) through stdin/stdout.
//
//   node client.js '{"host":"127.0.0.1","port":9878,"sender":"DESK1","password":"<token>",
//                   "storeDir":"/tmp/desk1","heartbeat":30}'
//
// It logs on (TargetCompID OMS, Password 554 = the token) with a file store, so sequence
// numbers survive a restart of this process, and answers ResendRequests from it.
// Every line it prints for the driver starts with "@@ " and is one JSON object:
//   {"event":"ready"}                          logged on
//   {"event":"in","type":"8","raw":"8=FIX..."} a message received (session ones too)
//   {"event":"out","type":"D","raw":"..."}     a message sent
//   {"event":"stopped","error":"..."}          the session ended
//   {"event":"ended","error":"..."}            the client is done (the process then exits)
// Each stdin line is one JSON command:
//   {"op":"send","type":"D","body":{"ClOrdID":"c1","Side":"1",...}}
//   {"op":"send","type":"D","body":{...},"possDup":true,"origSendingTime":"<ISO time>"}
//       an application-level resend: a new MsgSeqNum with PossDupFlag=Y (122 set)
//   {"op":"logout"}   log out and end        {"op":"drop"}   close the socket, no Logout
'use strict'

require('reflect-metadata')
const { AsciiSession, SessionLauncher } = require('jspurefix')

const options = JSON.parse(process.argv[2])

function emit (event) {
  process.stdout.write('@@ ' + JSON.stringify(event) + '\n')
}

function description () {
  return {
    application: {
      type: 'initiator',
      name: options.sender,
      reconnectSeconds: 1,
      connectTimeoutSeconds: 10,
      tcp: { host: options.host, port: options.port },
      protocol: 'ascii',
      dictionary: 'repo44'
    },
    Username: options.sender,
    Password: options.password,
    EncryptMethod: 0,
    ResetSeqNumFlag: false,
    HeartBtInt: options.heartbeat || 30,
    SenderCompId: options.sender,
    TargetCompID: 'OMS',
    BeginString: 'FIX.4.4',
    store: { type: 'file', directory: options.storeDir }
  }
}

class DrivenClient extends AsciiSession {
  constructor (config) {
    super(config)
    this.logReceivedMsgs = false
    this.ready = false
  }

  onApplicationMsg (msgType, view) {}

  onDecoded (msgType, txt) {
    emit({ event: 'in', type: msgType, raw: txt })
  }

  onEncoded (msgType, txt) {
    emit({ event: 'out', type: msgType, raw: txt })
  }

  onLogon (view, user, password) {
    return true
  }

  onReady (view) {
    this.ready = true
    emit({ event: 'ready' })
  }

  onStopped (error) {
    emit({ event: 'stopped', error: error ? String(error.message || error) : '' })
  }

  command (cmd) {
    switch (cmd.op) {
      case 'send':
        return this.sendBody(cmd)
      case 'logout':
        return this.done()
      case 'drop':
        this.transport.duplex.socket.destroy()
        return setImmediate(() => this.stop(new Error('connection dropped')))
      default:
        emit({ event: 'error', error: `unknown op ${cmd.op}` })
    }
  }

  sendBody (cmd) {
    const body = withDates(cmd.body)
    if (!cmd.possDup) {
      return this.send(cmd.type, body)
    }
    // jspurefix sends PossDupFlag=Y messages as replays of an old number and does not
    // advance its sequence; this is a new message, so the number is advanced here.
    const transmitter = this.transport.transmitter
    body.StandardHeader = {
      PossDupFlag: true,
      SendingTime: new Date(cmd.origSendingTime || Date.now()),
      MsgSeqNum: transmitter.msgSeqNum
    }
    this.send(cmd.type, body, (error) => {
      if (!error) transmitter.msgSeqNum++
    })
  }
}

// JSON has no dates: the driver sends UTCTimestamp fields (…Time) as ISO strings.
function withDates (value) {
  if (Array.isArray(value)) return value.map(withDates)
  if (value === null || typeof value !== 'object') return value
  const copy = {}
  for (const [key, field] of Object.entries(value)) {
    copy[key] = key.endsWith('Time') && typeof field === 'string' ? new Date(field) : withDates(field)
  }
  return copy
}

class Launcher extends SessionLauncher {
  constructor () {
    super(description(), null)
  }

  makeFactory (config) {
    return {
      makeSession: (sessionConfig) => {
        client = new DrivenClient(sessionConfig)
        return client
      }
    }
  }
}

let client = null
let buffered = ''
process.stdin.on('data', (chunk) => {
  buffered += chunk.toString()
  let newline
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline).trim()
    buffered = buffered.slice(newline + 1)
    if (!line) continue
    if (!client) {
      emit({ event: 'error', error: 'not connected' })
      continue
    }
    try {
      client.command(JSON.parse(line))
    } catch (e) {
      emit({ event: 'error', error: String(e.message || e) })
    }
  }
})

// When the session ends, let node exit by itself once the file store's writes are done
// (exiting at once can leave its .seqnums file truncated).
function finish (error) {
  emit({ event: 'ended', error })
  process.stdin.destroy()
  setTimeout(() => process.exit(error ? 1 : 0), 5000).unref()
}

new Launcher().run().then(() => finish('')).catch((e) => finish(String(e.message || e)))
