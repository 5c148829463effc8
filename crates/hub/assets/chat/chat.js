// The chat page of `switchboard serve`: one room, over the switchboard.v1.json protocol
// (docs/protocol.md). No framework and no build step. Text from other people only ever
// reaches the page through textContent.
'use strict';

(() => {
  const SUBPROTOCOL = 'switchboard.v1.json';
  // A room is the part of the channel name after "chat:", so it has the channel characters
  // without ':' and leaves room for the prefix in the 255-byte limit.
  const ROOM = /^[A-Za-z0-9_\-.@/=]{1,250}$/;
  const HISTORY_LIMIT = 50;
  // Disconnect codes after which reconnecting would fail the same way (docs/protocol.md).
  const NO_RECONNECT = new Set([4001, 4002, 4005]);
  const BACKOFF_MS = { first: 500, max: 10000 };

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'), joinForm: $('join-form'), name: $('name'), room: $('room'),
    formError: $('form-error'), chat: $('chat'), title: $('room-title'), messages: $('messages'),
    presence: $('presence'), count: $('presence-count'), sendForm: $('send-form'), message: $('message'),
  };

  let me = { name: '', channel: '' };
  let generation = 0;        // bumped on each join: events of an older socket are ignored
  let ws = null;
  let nextId = 1;
  const calls = new Map();   // command id -> { resolve, reject }
  let clientId = '';
  let position = null;       // { epoch, offset } of the last publication shown
  let live = false;          // false while (re)loading; publications wait in `held`
  let held = [];
  const present = new Map(); // client_id -> ClientInfo
  let attempt = 0;
  let retryTimer = 0;
  let farewell = null;       // the disconnect push, if the server sent one

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function call(method, params) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) return reject(new Error('not connected'));
      const id = nextId++;
      calls.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  }

  function failCalls(reason) {
    for (const { reject } of calls.values()) reject(new Error(reason));
    calls.clear();
  }

  function open() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    const gen = generation;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    setStatus(attempt ? 'reconnecting' : 'connecting',
      attempt ? `Reconnecting (attempt ${attempt})…` : 'Connecting…');
    const socket = new WebSocket(`${scheme}//${location.host}/ws`, SUBPROTOCOL);
    ws = socket;
    nextId = 1;
    farewell = null;
    socket.onopen = () => gen === generation && start(socket);
    socket.onmessage = (event) => gen === generation && receive(event.data);
    socket.onclose = (event) => gen === generation && closed(event);
  }

  async function start(socket) {
    if (socket.protocol !== SUBPROTOCOL) {
      generation += 1; // no reconnecting: this server would answer the same way
      ws = null;
      socket.close(1000);
      setStatus('error', `Cannot join: the server does not speak ${SUBPROTOCOL}`);
      return;
    }
    try {
      const connected = await call('connect', { name: 'switchboard-chat/1', info: { name: me.name } });
      clientId = connected.client;
      attempt = 0;
      await subscribe();
      setStatus('connected', `Connected to ${me.channel} as ${me.name}`);
      await loadPresence();
    } catch (error) {
      if (socket === ws) setStatus('error', `Cannot join: ${error.message}`);
    }
  }

  // Subscribes, recovering from the last position if there is one; loads recent history
  // when there is nothing to recover from or recovery failed. Publications that arrive
  // meanwhile are held and shown after, so that the list stays in offset order.
  async function subscribe() {
    live = false;
    held = [];
    const params = { channel: me.channel };
    if (position) Object.assign(params, { recover: true, offset: position.offset, epoch: position.epoch });
    const sub = await call('subscribe', params);
    if (sub.recovering && sub.recovered) {
      sub.publications.forEach(show);
      position = { epoch: sub.epoch, offset: sub.offset };
    } else {
      if (position) notice('Some messages could not be recovered: history reloaded');
      await reload(sub);
    }
    live = true;
    held.splice(0).forEach(show);
  }

  async function reload(sub) {
    let history = { epoch: sub.epoch, offset: sub.offset, publications: [] };
    try {
      history = await call('history', { channel: me.channel, limit: HISTORY_LIMIT });
    } catch (error) {
      if (error.code === undefined) throw error; // the connection closed
      // An error reply (no history in this namespace): carry on without.
    }
    // In the same epoch, skip what is already shown; a new epoch is a new stream.
    if (!position || position.epoch !== history.epoch) position = { epoch: history.epoch, offset: 0 };
    history.publications.forEach(show);
    position = { epoch: history.epoch, offset: history.offset };
  }

  async function loadPresence() {
    try {
      const { clients } = await call('presence', { channel: me.channel });
      present.clear();
      for (const client of clients) present.set(client.client_id, client);
    } catch (error) {
      if (error.code === undefined) throw error;
    }
    renderPresence();
  }

  function receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.push) return handlePush(msg);
    const pending = calls.get(msg.id);
    if (!pending) return;
    calls.delete(msg.id);
    if (msg.error) pending.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
    else pending.resolve(msg.result);
  }

  function handlePush(msg) {
    if (msg.push === 'disconnect') farewell = msg;
    if (msg.channel !== me.channel) return;
    if (msg.push === 'publication') {
      if (live) show(msg);
      else held.push(msg);
    } else if (msg.push === 'join') {
      present.set(msg.info.client_id, msg.info);
      renderPresence();
    } else if (msg.push === 'leave') {
      present.delete(msg.info.client_id);
      renderPresence();
    } else if (msg.push === 'unsubscribe') {
      live = false;
      present.clear();
      renderPresence();
      setStatus('disconnected', 'The server removed you from this room. Join again to come back.');
    }
  }

  function closed(event) {
    ws = null;
    live = false;
    failCalls('connection closed');
    present.clear();
    renderPresence();
    const code = farewell ? farewell.code : event.code;
    const reconnect = farewell ? farewell.reconnect : !NO_RECONNECT.has(event.code);
    if (!reconnect) {
      const reason = (farewell && farewell.reason) || event.reason || 'by the server';
      setStatus('disconnected', `Disconnected: ${reason} (${code}). Join again to retry.`);
      return;
    }
    // Exponential backoff with jitter; the first delay is random too (RFC 6455 7.2.3), so
    // that every page of a restarted server does not come back in the same instant.
    const delay = Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setStatus('reconnecting', `Connection lost (${code}). Reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    retryTimer = setTimeout(open, delay);
  }

  function nameOf(info) {
    if (!info) return 'server';
    const name = info.info && info.info.name;
    return typeof name === 'string' && name.trim() ? name : info.user_id || 'anonymous';
  }

  function textOf(publication) {
    const { data } = publication;
    if (publication.binary) return '(a binary message)';
    if (data && typeof data.text === 'string') return data.text;
    return typeof data === 'string' ? data : JSON.stringify(data);
  }

  function append(li) {
    const list = ui.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function span(className, text) {
    const element = document.createElement('span');
    element.className = className;
    element.textContent = text;
    return element;
  }

  function show(publication) {
    if (position && publication.offset <= position.offset) return; // already shown
    if (position) position.offset = publication.offset;
    const li = document.createElement('li');
    li.dataset.offset = publication.offset;
    if (publication.info && publication.info.client_id === clientId) li.className = 'mine';
    li.append(span('author', nameOf(publication.info)), span('text', textOf(publication)));
    append(li);
  }

  function notice(text) {
    const li = document.createElement('li');
    li.className = 'notice';
    li.dataset.testid = 'notice';
    li.textContent = text;
    append(li);
  }

  function renderPresence() {
    const people = [...present.values()]
      .map((client) => ({ id: client.client_id, name: nameOf(client) }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    ui.presence.replaceChildren(...people.map(({ id, name }) => {
      const li = document.createElement('li');
      li.dataset.clientId = id;
      li.append(span('who', name));
      if (id === clientId) li.append(span('you', ' (you)'));
      return li;
    }));
    ui.count.textContent = people.length ? `(${people.length})` : '';
  }

  function enter(name, channel) {
    generation += 1;
    if (ws) ws.close(1000, 'left the room');
    clearTimeout(retryTimer);
    failCalls('left the room');
    ws = null;
    me = { name, channel };
    position = null;
    live = false;
    held = [];
    attempt = 0;
    clientId = '';
    present.clear();
    renderPresence();
    ui.messages.replaceChildren();
    ui.title.textContent = `Room ${channel.slice('chat:'.length)}`;
    ui.chat.hidden = false;
    if (!location.host) {
      setStatus('error', 'Open this page from switchboard serve (http://host:port/), not from a file.');
      return;
    }
    open();
    ui.message.focus();
  }

  ui.joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    const room = ui.room.value.trim();
    const badName = !name;
    const badRoom = !ROOM.test(room);
    ui.name.setAttribute('aria-invalid', badName);
    ui.room.setAttribute('aria-invalid', badRoom);
    ui.formError.textContent = badName ? 'Pick a display name.'
      : badRoom ? 'A room name is letters, digits and _ - . @ / = only.' : '';
    if (badName) ui.name.focus();
    else if (badRoom) ui.room.focus();
    else enter(name, `chat:${room}`);
  });

  ui.sendForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = ui.message.value.trim();
    if (!text || !me.channel) return;
    try {
      await call('publish', { channel: me.channel, data: { text } });
      if (ui.message.value.trim() === text) ui.message.value = '';
    } catch (error) {
      notice(`Not sent (${error.message}); it is still in the box.`);
    }
  });

  // Back online: try now instead of waiting out the backoff.
  window.addEventListener('online', () => {
    if (retryTimer) open();
  });
})();
