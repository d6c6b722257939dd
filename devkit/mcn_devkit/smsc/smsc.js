#!/usr/bin/env node
// Local SMSC for tests, benchmarks and `make demo`, built on node-smpp (farhadi/node-smpp),
// a third-party SMPP 3.4 implementation, so our client is checked against someone else's codec.
//
// Control: one JSON command per line on stdin ({"id": 1, "cmd": "throttle", "count": 2});
// every command is acknowledged with {"event": "ack", "id": 1}.
// Events: one JSON object per line on stdout (ready, bind, submit_sm, deliver_sm_resp, ...).
// Usage: node smsc.js [--port 0] [--system-id ID] [--password PW] [--latency-ms N]
'use strict';

const path = require('path');
const readline = require('readline');

// node-smpp lives in the repo-root node_modules (pinned by package-lock.json).
const searchPaths = [
  process.env.MCN_NODE_MODULES,
  path.resolve(__dirname, '..', '..', '..', 'node_modules'),
  process.cwd(),
].filter(Boolean);
const smpp = require(require.resolve('smpp', { paths: searchPaths }));
const defs = require(require.resolve('smpp/lib/defs', { paths: searchPaths }));

const ESME_ROK = 0x00;
const ESME_RINVCMDLEN = 0x02;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;
const ESME_RINVPASWD = 0x0e;

function parseArgs(argv) {
  const options = { port: 0, host: '127.0.0.1', systemId: null, password: null, latencyMs: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': options.port = Number(value); break;
      case '--host': options.host = value; break;
      case '--system-id': options.systemId = value; break;
      case '--password': options.password = value; break;
      case '--latency-ms': options.latencyMs = Number(value); break;
      default: throw new Error('unknown argument ' + argv[i]);
    }
  }
  return options;
}

const options = parseArgs(process.argv);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

// node-smpp decodes short_message/message_payload into text; keep the raw octets too,
// because the tests assert on exactly what went over the socket.
const originalMessageDecode = defs.filters.message.decode;
defs.filters.message.decode = function (value, skipUdh) {
  if (Buffer.isBuffer(value)) {
    if (value === this.short_message) this._rawShortMessage = value;
    if (value === this.message_payload) this._rawMessagePayload = value;
  }
  return originalMessageDecode.call(this, value, skipUdh);
};

// Faults armed at run time; counters are consumed by the next submits, in this order.
const faults = {
  statusQueue: [], // [{status, count}]: answer the next submits with this command_status
  drop: 0, // next N submits get no response at all
  genericNack: 0, // next N submits get generic_nack (ESME_RINVCMDLEN)
  genericNackZero: 0, // next N submits get generic_nack with sequence_number 0 (a broken session)
  disconnectInflight: 0, // hold next N submits, then drop every connection
  rejectBinds: [], // [{status, count}]
  latencyMs: options.latencyMs,
  tps: null, // licence: token bucket, capacity = tps (one second of burst)
  tokens: 0,
  tokensAt: 0,
  autoReceipt: null, // {stat, delayMs}: receipt for every accepted submit that asked for one
};

const stats = { submits: 0, accepted: 0, throttled: 0, licenceThrottled: 0, binds: 0, unbinds: 0 };
let nextMessageId = 1;
let nextSessionId = 1;
const sessions = new Map(); // id -> {session, heldSequences: []}
const messageOwners = new Map(); // message_id -> {sessionId, source, destination}

function takeCounter(name) {
  if (faults[name] > 0) {
    faults[name] -= 1;
    return true;
  }
  return false;
}

function takeStatus() {
  while (faults.statusQueue.length) {
    const head = faults.statusQueue[0];
    if (head.count > 0) {
      head.count -= 1;
      return head.status;
    }
    faults.statusQueue.shift();
  }
  return null;
}

function licenceAllows() {
  if (!faults.tps) return true;
  const now = Date.now();
  faults.tokens = Math.min(faults.tps, faults.tokens + ((now - faults.tokensAt) / 1000) * faults.tps);
  faults.tokensAt = now;
  if (faults.tokens >= 1) {
    faults.tokens -= 1;
    return true;
  }
  return false;
}

function respondLater(session, pdu) {
  if (faults.latencyMs > 0) {
    setTimeout(() => session.send(pdu), faults.latencyMs);
  } else {
    session.send(pdu);
  }
}

function hex(buffer) {
  return Buffer.isBuffer(buffer) ? buffer.toString('hex') : null;
}

function describeSubmit(sessionId, pdu) {
  const shortMessage = pdu.short_message || {};
  const payload = pdu.message_payload || {};
  return {
    event: 'submit_sm',
    session: sessionId,
    sequence: pdu.sequence_number,
    service_type: pdu.service_type,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery,
    data_coding: pdu.data_coding,
    short_message_hex: hex(pdu._rawShortMessage) || '',
    message_payload_hex: hex(pdu._rawMessagePayload),
    node_text: typeof shortMessage.message === 'string' && shortMessage.message.length
      ? shortMessage.message
      : (typeof payload.message === 'string' ? payload.message : null),
  };
}

function onSubmit(sessionId, session, pdu) {
  stats.submits += 1;
  const record = describeSubmit(sessionId, pdu);
  let response = null;

  if (faults.disconnectInflight > 0) {
    faults.disconnectInflight -= 1;
    sessions.get(sessionId).held += 1;
    record.fault = 'held_for_disconnect';
    emit(record);
    if (faults.disconnectInflight === 0) {
      for (const [id, entry] of sessions) {
        if (entry.held > 0) {
          emit({ event: 'disconnect', session: id, held: entry.held });
          entry.session.destroy();
        }
      }
    }
    return;
  }
  if (takeCounter('drop')) {
    record.fault = 'no_response';
    emit(record);
    return;
  }
  if (takeCounter('genericNack')) {
    record.fault = 'generic_nack';
    emit(record);
    respondLater(session, new smpp.PDU('generic_nack', {
      sequence_number: pdu.sequence_number, command_status: ESME_RINVCMDLEN,
    }));
    return;
  }
  if (takeCounter('genericNackZero')) {
    record.fault = 'generic_nack_zero';
    emit(record);
    // Written raw: node-smpp's session.send() would replace sequence number 0 with its own.
    const nack = new smpp.PDU('generic_nack', { sequence_number: 0, command_status: ESME_RINVCMDLEN });
    session.socket.write(nack.toBuffer());
    return;
  }
  const injected = takeStatus();
  if (injected !== null) {
    record.fault = 'status';
    record.status = injected;
    if (injected === ESME_RTHROTTLED) stats.throttled += 1;
    response = pdu.response({ command_status: injected });
  } else if (!licenceAllows()) {
    record.fault = 'licence_exceeded';
    record.status = ESME_RTHROTTLED;
    stats.throttled += 1;
    stats.licenceThrottled += 1;
    response = pdu.response({ command_status: ESME_RTHROTTLED });
  } else {
    const messageId = String(nextMessageId++).padStart(10, '0');
    record.message_id = messageId;
    record.status = ESME_ROK;
    stats.accepted += 1;
    messageOwners.set(messageId, {
      sessionId, source: pdu.source_addr, destination: pdu.destination_addr,
    });
    response = pdu.response({ message_id: messageId });
    if (faults.autoReceipt && (pdu.registered_delivery & 0x03)) {
      const auto = faults.autoReceipt;
      // After the response has gone out, as a real SMSC would.
      setTimeout(() => sendReceipt({ message_id: messageId, stat: auto.stat, vendor_tlv: false }),
        faults.latencyMs + auto.delayMs);
    }
  }
  emit(record);
  respondLater(session, response);
}

function onBind(sessionId, session, pdu) {
  const event = {
    event: 'bind', session: sessionId, command: pdu.command, system_id: pdu.system_id,
    system_type: pdu.system_type, interface_version: pdu.interface_version,
  };
  let status = ESME_ROK;
  const rejection = faults.rejectBinds[0];
  if (rejection && rejection.count > 0) {
    rejection.count -= 1;
    if (rejection.count === 0) faults.rejectBinds.shift();
    status = rejection.status;
  } else if ((options.systemId !== null && pdu.system_id !== options.systemId)
      || (options.password !== null && pdu.password !== options.password)) {
    status = ESME_RINVPASWD;
  }
  event.status = status;
  emit(event);
  return status;
}

function answerBind(session, pdu, status) {
  if (status === ESME_ROK) {
    stats.binds += 1;
    session.send(pdu.response({ system_id: 'mcn-smsc' }));
  } else {
    session.send(pdu.response({ command_status: status }), () => session.close());
  }
}

const VENDOR_TLV_TAG = 0x1501; // outside the spec's TLV range: must be tolerated by the client

function appendRawTlv(buffer, tag, value) {
  const tlv = Buffer.alloc(4 + value.length);
  tlv.writeUInt16BE(tag, 0);
  tlv.writeUInt16BE(value.length, 2);
  value.copy(tlv, 4);
  const whole = Buffer.concat([buffer, tlv]);
  whole.writeUInt32BE(whole.length, 0);
  return whole;
}

const MESSAGE_STATES = {
  ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8,
};

function smppDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return pad(date.getUTCFullYear() % 100) + pad(date.getUTCMonth() + 1) + pad(date.getUTCDate())
    + pad(date.getUTCHours()) + pad(date.getUTCMinutes());
}

function sendDeliverSm(entry, fields, rawTlv) {
  const session = entry.session;
  if (session.sequence === 0x7fffffff) session.sequence = 0;
  const pdu = new smpp.PDU('deliver_sm', Object.assign({ sequence_number: ++session.sequence }, fields));
  let buffer = pdu.toBuffer();
  if (rawTlv) buffer = appendRawTlv(buffer, rawTlv.tag, rawTlv.value);
  session.socket.write(buffer);
  return pdu.sequence_number;
}

function pickSession(preferredId) {
  // A receipt goes back on the submitting session only if that session can receive (not a transmitter).
  if (preferredId !== undefined && sessions.has(preferredId) && sessions.get(preferredId).receiver) {
    return [preferredId, sessions.get(preferredId)];
  }
  for (const [id, entry] of sessions) {
    if (entry.receiver) return [id, entry];
  }
  return [null, null];
}

function sendReceipt(command) {
  const owner = messageOwners.get(command.message_id) || {};
  const [sessionId, entry] = pickSession(command.session !== undefined ? command.session : owner.sessionId);
  if (!entry) return { error: 'no bound receiver/transceiver session' };
  const stat = command.stat || 'DELIVRD';
  const now = new Date();
  const err = command.err || (stat === 'DELIVRD' ? '000' : '001');
  const text = `id:${command.message_id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} `
    + `submit date:${smppDate(now)} done date:${smppDate(now)} stat:${stat} err:${err} text:`;
  const fields = {
    source_addr: command.source_addr || owner.destination || '',
    destination_addr: command.destination_addr || owner.source || '',
    esm_class: Number.isInteger(command.esm_class) ? command.esm_class : defs.consts.ESM_CLASS.MC_DELIVERY_RECEIPT,
    data_coding: 0,
    short_message: command.tlv_only ? Buffer.alloc(0) : Buffer.from(text, 'latin1'),
  };
  if (!command.text_only) {
    fields.receipted_message_id = command.message_id;
    fields.message_state = MESSAGE_STATES[stat] || 7;
  }
  const rawTlv = command.vendor_tlv === false ? null : { tag: VENDOR_TLV_TAG, value: Buffer.from('vendor') };
  const sequence = sendDeliverSm(entry, fields, rawTlv);
  emit({ event: 'deliver_sm', kind: 'receipt', session: sessionId, sequence, message_id: command.message_id, stat });
  return { session: sessionId, sequence };
}

function sendMo(command) {
  const [sessionId, entry] = pickSession(command.session);
  if (!entry) return { error: 'no bound receiver/transceiver session' };
  const fields = {
    source_addr: command.source_addr,
    destination_addr: command.destination_addr,
    esm_class: 0,
    data_coding: command.data_coding || 0,
    short_message: Buffer.from(command.short_message_hex || '', 'hex'),
  };
  const sequence = sendDeliverSm(entry, fields, null);
  emit({ event: 'deliver_sm', kind: 'mo', session: sessionId, sequence });
  return { session: sessionId, sequence };
}

function unbindSessions(command) {
  let count = 0;
  for (const [id, entry] of sessions) {
    if (command.session !== undefined && command.session !== id) continue;
    if (!entry.bound) continue;
    count += 1;
    entry.session.unbind((resp) => {
      emit({ event: 'unbind_resp', session: id, status: resp.command_status });
      entry.session.close();
    });
    emit({ event: 'smsc_unbind', session: id });
  }
  return { sessions: count };
}

function handleCommand(command) {
  switch (command.cmd) {
    case 'status': faults.statusQueue.push({ status: command.status, count: command.count || 1 }); return {};
    case 'throttle': faults.statusQueue.push({ status: ESME_RTHROTTLED, count: command.count || 1 }); return {};
    case 'queue_full': faults.statusQueue.push({ status: ESME_RMSGQFUL, count: command.count || 1 }); return {};
    case 'drop': faults.drop += command.count || 1; return {};
    case 'generic_nack': faults.genericNack += command.count || 1; return {};
    case 'generic_nack_zero': faults.genericNackZero += command.count || 1; return {};
    case 'disconnect_inflight': faults.disconnectInflight = command.count || 1; return {};
    case 'reject_bind': faults.rejectBinds.push({ status: command.status, count: command.count || 1 }); return {};
    case 'latency': faults.latencyMs = command.ms || 0; return {};
    case 'auto_receipt':
      faults.autoReceipt = command.stat ? { stat: command.stat, delayMs: command.delay_ms || 0 } : null;
      return {};
    case 'tps_limit':
      faults.tps = command.tps || null;
      faults.tokens = faults.tps || 0;
      faults.tokensAt = Date.now();
      return {};
    case 'unbind': return unbindSessions(command);
    case 'disconnect': {
      let count = 0;
      for (const [, entry] of sessions) { entry.session.destroy(); count += 1; }
      return { sessions: count };
    }
    case 'receipt': return sendReceipt(command);
    case 'mo': return sendMo(command);
    case 'stats': return Object.assign({ sessions: sessions.size }, stats);
    case 'reset':
      Object.assign(faults, {
        statusQueue: [], drop: 0, genericNack: 0, genericNackZero: 0, disconnectInflight: 0, rejectBinds: [],
        latencyMs: options.latencyMs, tps: null, autoReceipt: null,
      });
      return {};
    case 'quit':
      setImmediate(() => process.exit(0));
      return {};
    default:
      return { error: 'unknown command ' + command.cmd };
  }
}

const server = smpp.createServer((session) => {
  const sessionId = nextSessionId++;
  const entry = { session, bound: false, receiver: false, held: 0 };
  sessions.set(sessionId, entry);
  emit({ event: 'connect', session: sessionId });

  for (const command of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
    session.on(command, (pdu) => {
      const status = onBind(sessionId, session, pdu);
      entry.bound = status === ESME_ROK;
      entry.receiver = entry.bound && command !== 'bind_transmitter';
      answerBind(session, pdu, status);
    });
  }
  session.on('submit_sm', (pdu) => onSubmit(sessionId, session, pdu));
  session.on('enquire_link', (pdu) => {
    emit({ event: 'enquire_link', session: sessionId });
    session.send(pdu.response());
  });
  session.on('deliver_sm_resp', (pdu) => {
    emit({ event: 'deliver_sm_resp', session: sessionId, sequence: pdu.sequence_number, status: pdu.command_status });
  });
  session.on('unbind', (pdu) => {
    stats.unbinds += 1;
    emit({ event: 'unbind', session: sessionId });
    session.send(pdu.response(), () => session.close());
  });
  session.on('unknown', (pdu) => {
    emit({ event: 'unknown_pdu', session: sessionId, command_id: pdu.command_id });
    session.send(pdu.response());
  });
  session.on('error', (error) => emit({ event: 'session_error', session: sessionId, error: String(error) }));
  session.on('close', () => {
    sessions.delete(sessionId);
    emit({ event: 'close', session: sessionId });
  });
});

server.on('error', (error) => {
  emit({ event: 'fatal', error: String(error) });
  process.exit(2);
});

server.listen(options.port, options.host, () => {
  emit({ event: 'ready', host: options.host, port: server.address().port });
});

const control = readline.createInterface({ input: process.stdin });
control.on('line', (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit({ event: 'ack', id: null, error: 'bad JSON: ' + String(error) });
    return;
  }
  let result;
  try {
    result = handleCommand(command);
  } catch (error) {
    result = { error: String(error) };
  }
  emit(Object.assign({ event: 'ack', id: command.id, cmd: command.cmd }, result));
});
// The harness owns us: when it goes away (stdin closed), stop.
control.on('close', () => process.exit(0));
