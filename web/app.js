// ringroom demo page: a shared plain-text editor, presence, cursors and chat over /ws
// (protocol v1, docs/protocol.md). Plain JavaScript, no build step. OT is ot.js's own code
// (/vendor/ot.js, served by ringroom): ot.Client keeps the Synchronized / AwaitingConfirm /
// AwaitingWithBuffer states (one op in flight, later edits composed into a buffer, incoming ops
// transformed against both), ot.TextOperation does apply/compose/transform and ot.Selection
// transforms cursors. Positions are UTF-16 code units everywhere, which is what both a
// textarea's selectionStart and ot.js count.
(function () {
  'use strict';

  var TextOperation = ot.TextOperation;
  var Selection = ot.Selection;
  var Range = ot.Selection.Range;

  var PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#0f9bb0', '#d6259f', '#7a8c00',
                 '#9a6324', '#800000', '#2f7d5b', '#000075'];
  var ROOM_RE = /^[A-Za-z0-9._-]{1,128}$/;
  var MAX_CHAT_BYTES = 4096;                 // server default --max-chat-bytes
  var BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 15000;

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    conn: $('conn'), connText: $('conn-text'), notices: $('notices'),
    joinView: $('join-view'), joinForm: $('join-form'), joinName: $('join-name'), joinRoom: $('join-room'),
    roomView: $('room-view'), roomLabel: $('room-label'), copyLink: $('copy-link'),
    editor: $('editor'), overlay: $('overlay'), wrap: $('editor-wrap'),
    rev: $('doc-rev'), len: $('doc-len'), sync: $('sync-state'),
    people: $('participants'), peopleCount: $('people-count'),
    chatLog: $('chat-log'), chatForm: $('chat-form'), chatInput: $('chat-input'), chatSend: $('chat-send'),
  };

  // ---------------------------------------------------------------- identity

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'u' + Math.random().toString(36).slice(2) + Date.now().toString(36);
  }
  function storageGet(store, key) { try { return window[store].getItem(key); } catch (e) { return null; } }
  function storageSet(store, key, v) { try { window[store].setItem(key, v); } catch (e) { /* private mode */ } }

  // One identity per tab (sessionStorage), so two tabs are two participants, and a reload or a
  // re-join after a server restart comes back as the same user.
  var me = {
    id: storageGet('sessionStorage', 'ringroom.id') || randomId(),
    name: '',
    color: storageGet('sessionStorage', 'ringroom.color') || PALETTE[Math.floor(Math.random() * PALETTE.length)],
  };
  storageSet('sessionStorage', 'ringroom.id', me.id);
  storageSet('sessionStorage', 'ringroom.color', me.color);

  // ---------------------------------------------------------------- state

  var room = null;            // room name once the user asked to join
  var ws = null;
  var joined = false;         // got `joined` on the current socket
  var selfId = null;          // participant id the server gave us (`self`)
  var client = null;          // ot.Client
  var shadow = '';            // the server's document at client.revision (acked + remote ops)
  var doc = '';               // what the textarea holds (shadow + outstanding + buffer)
  var participants = new Map();  // participant id -> {id, name, color}
  var cursors = new Map();       // participant id -> {pos, sel: Selection|null} in local doc coordinates
  var attempt = 0, retryTimer = null, everJoined = false;
  var lastSentCursor = null;
  var dropPending = false;       // the server refused our op: don't send it again on re-join
  var pendingChats = new Map();  // client chat id -> <li>
  var chatSeq = 0;

  // ---------------------------------------------------------------- notices & status

  function notice(text, kind) {
    var el = document.createElement('div');
    el.className = 'notice ' + (kind || 'error');
    el.textContent = text;
    var close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.title = 'Dismiss';
    close.onclick = function () { el.remove(); };
    el.appendChild(close);
    ui.notices.appendChild(el);
    while (ui.notices.children.length > 4) ui.notices.firstChild.remove();
    setTimeout(function () { el.remove(); }, kind === 'info' ? 4000 : 10000);
  }

  function setConn(state, text) {
    ui.conn.dataset.state = state;
    ui.connText.textContent = text;
  }

  function updateStatus() {
    ui.rev.textContent = 'rev ' + (client ? client.revision : '–');
    ui.len.textContent = doc.length + ' chars';
    var s = client ? client.state : null;
    var name = !s ? 'not joined'
      : s instanceof ot.Client.AwaitingWithBuffer ? 'sending (more queued)'
      : s instanceof ot.Client.AwaitingConfirm ? 'sending'
      : 'synchronized';
    ui.sync.textContent = name;
    ui.sync.dataset.state = !s ? 'none' : s instanceof ot.Client.AwaitingConfirm || s instanceof ot.Client.AwaitingWithBuffer ? 'pending' : 'synced';
  }

  // ---------------------------------------------------------------- socket

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(msg)); return true; }
    return false;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    setConn(everJoined ? 'reconnecting' : 'connecting', everJoined ? 'reconnecting…' : 'connecting…');
    var sock;
    try { sock = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    joined = false;
    sock.onopen = function () { if (ws === sock) sendJoin(); };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { notice('The server sent something that is not JSON.'); return; }
      try { handle(msg); } catch (e) {
        console.error(e);
        notice('Out of sync (' + e.message + '); reloading the document.');
        rejoin();
      }
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      joined = false;
      setEditable(false);
      scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    if (!room || retryTimer) return;
    // exponential backoff with full jitter on the upper half: 0.5 s, 1 s, 2 s, ... 15 s
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
    var delay = Math.round(base / 2 + Math.random() * base / 2);
    attempt++;
    var until = Date.now() + delay;
    var tick = function () {
      var left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('reconnecting', 'reconnecting in ' + left + ' s (attempt ' + attempt + ')');
    };
    tick();
    var iv = setInterval(tick, 500);
    retryTimer = setTimeout(function () { clearInterval(iv); retryTimer = null; connect(); }, delay);
  }

  function sendJoin() {
    send({ type: 'join', room: room, user: { id: me.id, name: me.name, color: me.color } });
  }

  // Re-join on the same socket (a `join` leaves the previous room first), or reconnect.
  function rejoin() {
    joined = false;
    setEditable(false);
    if (ws && ws.readyState === WebSocket.OPEN) {
      setConn('connecting', 're-joining…');
      sendJoin();
    } else if (!retryTimer) {
      connect();
    }
  }

  // ---------------------------------------------------------------- messages

  function handle(msg) {
    // an edit the input event has not reported yet must become an op before anything is applied
    if (joined && client && ui.editor.value !== doc) onLocalInput();
    switch (msg.type) {
    case 'joined': return onJoined(msg);
    case 'ack': return onAck(msg);
    case 'op': return onOp(msg);
    case 'chat': return onChat(msg);
    case 'cursor': return onCursor(msg);
    case 'presence': return onPresence(msg);
    case 'error': return onError(msg);
    case 'bye':
      notice('Server: ' + (msg.reason || 'bye') + '; reconnecting.', 'info');
      return;
    default:
      return;   // unknown types (element, ...) are not this page's business
    }
  }

  function onJoined(msg) {
    var text = typeof msg.doc === 'string' ? msg.doc : '';
    var rev = msg.rev | 0;
    var local = doc;
    var pending = client ? pendingOp() : null;

    // Keep unsent edits when it is safe: the server is exactly where we left it (rev and text
    // match the last state we know), or our outstanding op was applied and only its ack was lost.
    var carry = null;
    if (pending && dropPending) {
      notice('Your last edits were refused by the server and were dropped.');
    } else if (pending && client) {
      var st = client.state;
      if (rev === client.revision && text === shadow) {
        carry = pending;
      } else if (st.outstanding && rev === client.revision + 1 &&
                 safeApply(st.outstanding, shadow) === text) {
        carry = st.buffer || null;
      } else {
        notice('Re-joined, but your last unsent edits could not be merged with the server\'s copy and were dropped.');
      }
    }

    dropPending = false;
    selfId = msg.self;
    joined = true;
    everJoined = true;
    attempt = 0;
    client = makeClient(rev);
    shadow = text;
    var sel = currentSelection();
    var base = local;
    doc = text;
    if (carry) {
      doc = carry.apply(text);
      client.applyClient(carry);   // sends it: state AwaitingConfirm
    }
    setEditorValue(doc, mapSelection(sel, base, doc));

    participants.clear();
    cursors.clear();
    // chat lines sent on a socket that died before their echo never reached the room
    pendingChats.forEach(function (li) { li.classList.add('failed'); li.title = 'not sent'; });
    pendingChats.clear();
    (msg.participants || []).forEach(function (p) { if (p && p.id != null) participants.set(String(p.id), p); });
    if (selfId != null && !participants.has(String(selfId))) {
      participants.set(String(selfId), { id: selfId, name: me.name, color: me.color });
    }
    renderPeople();
    renderOverlay();
    setEditable(true);
    setConn('connected', 'connected');
    lastSentCursor = null;
    sendCursor();
    updateStatus();
  }

  function onAck(msg) {
    if (!client || !joined) return;
    if (!(client.state instanceof ot.Client.AwaitingConfirm || client.state instanceof ot.Client.AwaitingWithBuffer)) {
      throw new Error('ack without an op in flight');
    }
    if (msg.rev != null && msg.rev !== client.revision + 1) {
      throw new Error('ack for rev ' + msg.rev + ', expected ' + (client.revision + 1));
    }
    shadow = client.state.outstanding.apply(shadow);
    client.serverAck();   // AwaitingWithBuffer sends its buffer now
    updateStatus();
    if (!(client.state instanceof ot.Client.AwaitingWithBuffer)) sendCursor();
  }

  function onOp(msg) {
    if (!client || !joined) return;
    if (msg.rev != null && msg.rev !== client.revision + 1) {
      throw new Error('op for rev ' + msg.rev + ', expected ' + (client.revision + 1));
    }
    var op = TextOperation.fromJSON(msg.op);
    shadow = op.apply(shadow);
    client.applyServer(op);   // transforms against outstanding/buffer, calls applyOperation
    updateStatus();
  }

  function onCursor(msg) {
    if (!client || msg.from == null || String(msg.from) === String(selfId)) return;
    var pos = typeof msg.pos === 'number' ? msg.pos : null;
    if (pos === null) return;
    var sel = Array.isArray(msg.sel) && msg.sel.length === 2 &&
      typeof msg.sel[0] === 'number' && typeof msg.sel[1] === 'number' ? msg.sel : [pos, pos];
    // The cursor is in server coordinates (the sender's op was applied before it was relayed);
    // bring it over our own unacknowledged edits, as ot.js's EditorClient does.
    var s = client.transformSelection(new Selection([new Range(pos, pos), new Range(sel[0], sel[1])]));
    cursors.set(String(msg.from), { pos: s.ranges[0].head, sel: s.ranges[1] });
    renderOverlay();
  }

  function onPresence(msg) {
    var p = msg.participant;
    if (!p || p.id == null) return;
    var id = String(p.id);
    if (msg.event === 'joined') {
      participants.set(id, p);
    } else if (msg.event === 'left') {
      participants.delete(id);
      cursors.delete(id);
      renderOverlay();
    }
    renderPeople();
  }

  function onError(msg) {
    var code = msg.code || 'error';
    if (code === 'rev-too-old') {
      notice('The server no longer has the history your edit was based on; reloading the document.', 'info');
      rejoin();
      return;
    }
    if (msg.ref === 'chat') {
      // the message did not go out: unmark pending ones
      pendingChats.forEach(function (li) { li.classList.add('failed'); });
      pendingChats.clear();
    }
    notice('Server error ' + code + (msg.message ? ': ' + msg.message : '') + (msg.ref ? ' (on ' + msg.ref + ')' : ''));
    if (msg.ref === 'join' && !joined) {
      setConn('error', 'could not join (' + code + ')');
      return;
    }
    if (code === 'not-joined') {
      rejoin();
    } else if (msg.ref === 'op' && client && !(client.state instanceof ot.Client.Synchronized)) {
      // an op we sent was refused (too large, rate-limited, ...): the server will never ack it,
      // so our copy and theirs differ now; start again from theirs
      dropPending = true;
      rejoin();
    }
  }

  // ---------------------------------------------------------------- OT client

  function makeClient(rev) {
    var c = new ot.Client(rev);
    c.sendOperation = function (revision, op) {
      send({ type: 'op', rev: revision, op: op.toJSON() });
      updateStatus();
    };
    c.applyOperation = function (op) {
      // an op from the server, already transformed against our pending edits
      var sel = currentSelection();
      doc = op.apply(doc);
      setEditorValue(doc, sel && sel.transform(op));
      transformCursors(op);
    };
    return c;
  }

  function pendingOp() {
    var s = client.state;
    if (s instanceof ot.Client.AwaitingWithBuffer) return s.outstanding.compose(s.buffer);
    if (s instanceof ot.Client.AwaitingConfirm) return s.outstanding;
    return null;
  }

  function safeApply(op, text) { try { return op.apply(text); } catch (e) { return null; } }

  function isHigh(c) { return c >= 0xd800 && c <= 0xdbff; }
  function isLow(c) { return c >= 0xdc00 && c <= 0xdfff; }

  // The op that turns `a` into `b`: one replaced span, placed using the caret (`caret` = where
  // the edit ended in `b`) so that typing "a" into "aa" inserts where the user typed. Never splits
  // a surrogate pair, so every insert is valid UTF-16 and so valid UTF-8 on the wire.
  function diffOp(a, b, caret) {
    var maxSuffix = Math.min(a.length, b.length);
    if (typeof caret === 'number') maxSuffix = Math.min(maxSuffix, b.length - caret);
    var suffix = 0;
    while (suffix < maxSuffix && a.charCodeAt(a.length - 1 - suffix) === b.charCodeAt(b.length - 1 - suffix)) suffix++;
    var maxPrefix = Math.min(a.length, b.length) - suffix;
    var prefix = 0;
    while (prefix < maxPrefix && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
    // don't cut a pair: a prefix ending on a high surrogate, or a suffix starting on a low one
    if (prefix > 0 && isHigh(a.charCodeAt(prefix - 1))) prefix--;
    if (suffix > 0 && isLow(a.charCodeAt(a.length - suffix))) suffix--;
    var op = new TextOperation();
    op.retain(prefix);
    op['delete'](a.length - prefix - suffix);
    op.insert(b.slice(prefix, b.length - suffix));
    op.retain(suffix);
    return op;
  }

  function onLocalInput() {
    if (!client || !joined) { setEditorValue(doc, currentSelection()); return; }
    var next = ui.editor.value;
    if (next === doc) return;
    var op = diffOp(doc, next, ui.editor.selectionEnd);
    doc = next;
    transformCursors(op);
    client.applyClient(op);
    updateStatus();
    renderOverlay();
    scheduleCursor();
  }

  // ---------------------------------------------------------------- editor & selection

  function currentSelection() {
    var t = ui.editor;
    if (typeof t.selectionStart !== 'number') return null;
    var backward = t.selectionDirection === 'backward';
    var anchor = backward ? t.selectionEnd : t.selectionStart;
    var head = backward ? t.selectionStart : t.selectionEnd;
    return new Selection([new Range(anchor, head)]);
  }

  // A selection moved from `a` to `b` when the only thing known is the two texts.
  function mapSelection(sel, a, b) {
    if (!sel) return null;
    if (a === b) return sel;
    return sel.transform(diffOp(a, b));
  }

  function setEditorValue(text, sel) {
    var t = ui.editor;
    var top = t.scrollTop;
    var focused = document.activeElement === t;
    if (t.value !== text) t.value = text;
    if (sel && sel.ranges.length) {
      var r = sel.ranges[0];
      var a = clampPos(text, r.anchor), h = clampPos(text, r.head);
      var start = Math.min(a, h), end = Math.max(a, h);
      if (focused || t.selectionStart !== start || t.selectionEnd !== end) {
        t.setSelectionRange(start, end, h < a ? 'backward' : 'forward');
      }
    }
    t.scrollTop = top;
    renderOverlay();
    updateStatus();
  }

  function clampPos(text, p) {
    p = Math.max(0, Math.min(text.length, p | 0));
    // never inside a surrogate pair
    if (p > 0 && p < text.length && isHigh(text.charCodeAt(p - 1)) && isLow(text.charCodeAt(p))) p++;
    return p;
  }

  function transformCursors(op) {
    cursors.forEach(function (c, id) {
      var s = new Selection([new Range(c.pos, c.pos), c.sel]).transform(op);
      cursors.set(id, { pos: s.ranges[0].head, sel: s.ranges[1] });
    });
  }

  var cursorTimer = null;
  function scheduleCursor() {
    if (cursorTimer) return;
    cursorTimer = setTimeout(function () { cursorTimer = null; sendCursor(); }, 30);
  }

  function sendCursor() {
    if (!client || !joined) return;
    // A cursor in AwaitingWithBuffer would refer to text the server has not seen yet; the ack
    // that sends the buffer sends the cursor too (ot.js EditorClient does the same).
    if (client.state instanceof ot.Client.AwaitingWithBuffer) return;
    var t = ui.editor;
    var pos = t.selectionDirection === 'backward' ? t.selectionStart : t.selectionEnd;
    var key = pos + ':' + t.selectionStart + ':' + t.selectionEnd;
    if (key === lastSentCursor) return;
    lastSentCursor = key;
    send({ type: 'cursor', pos: pos, sel: [t.selectionStart, t.selectionEnd] });
  }

  function setEditable(on) {
    ui.editor.disabled = !on;
    ui.chatInput.disabled = !on;
    ui.chatSend.disabled = !on;
    ui.wrap.classList.toggle('offline', !on);
  }

  // ---------------------------------------------------------------- overlay (remote cursors)

  // The overlay is a div laid exactly over the textarea with the same font, padding and
  // wrapping; it holds the text in transparent ink with coloured spans for other people's
  // selections and a caret + name tag at each of their cursors.
  function renderOverlay() {
    var o = ui.overlay, t = ui.editor;
    var text = doc;
    if (cursors.size === 0) {   // nothing to draw: don't copy the text at every keystroke
      if (o.firstChild) o.replaceChildren();
      return;
    }
    var marks = [];   // {at, kind:'start'|'end'|'caret', id}
    cursors.forEach(function (c, id) {
      if (!participants.has(id)) return;
      var a = clampPos(text, Math.min(c.sel.anchor, c.sel.head)), b = clampPos(text, Math.max(c.sel.anchor, c.sel.head));
      if (b > a) { marks.push({ at: a, kind: 'start', id: id }); marks.push({ at: b, kind: 'end', id: id }); }
      marks.push({ at: clampPos(text, c.pos), kind: 'caret', id: id });
    });
    marks.sort(function (x, y) { return x.at - y.at || (x.kind === 'end' ? -1 : y.kind === 'end' ? 1 : 0); });

    var frag = document.createDocumentFragment();
    var open = new Map();   // id -> true while inside its selection
    var at = 0;
    function emitText(s) {
      if (!s) return;
      if (open.size === 0) { frag.appendChild(document.createTextNode(s)); return; }
      // nested selections: one span per open selection, innermost colour wins visually
      var span = document.createElement('span');
      span.className = 'rsel';
      var ids = Array.from(open.keys());
      span.style.backgroundColor = alpha(colorOf(ids[ids.length - 1]), 0.25);
      span.textContent = s;
      frag.appendChild(span);
    }
    marks.forEach(function (m) {
      emitText(text.slice(at, m.at));
      at = m.at;
      if (m.kind === 'start') open.set(m.id, true);
      else if (m.kind === 'end') open.delete(m.id);
      else frag.appendChild(caretEl(m.id));
    });
    emitText(text.slice(at));
    frag.appendChild(document.createTextNode('\u200b'));   // keeps a trailing newline's line
    o.replaceChildren(frag);
    syncOverlayBox();
    o.scrollTop = t.scrollTop;
    o.scrollLeft = t.scrollLeft;
  }

  function caretEl(id) {
    var p = participants.get(id) || {};
    var c = document.createElement('span');
    c.className = 'rcaret';
    c.dataset.participant = id;
    c.style.setProperty('--c', colorOf(id));
    var tag = document.createElement('span');
    tag.className = 'rtag';
    tag.textContent = p.name || '?';
    c.appendChild(tag);
    return c;
  }

  function syncOverlayBox() {
    var t = ui.editor, o = ui.overlay;
    // clientWidth excludes the textarea's scrollbar, so lines wrap at the same place
    o.style.width = t.clientWidth + 'px';
    o.style.height = t.clientHeight + 'px';
  }

  function colorOf(id) {
    var p = participants.get(id);
    var c = p && typeof p.color === 'string' && /^#[0-9a-fA-F]{6}$/.test(p.color) ? p.color : null;
    if (c) return c;
    var h = 0;
    String(id).split('').forEach(function (ch) { h = (h * 31 + ch.charCodeAt(0)) >>> 0; });
    return PALETTE[h % PALETTE.length];
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16 & 255) + ',' + (n >> 8 & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  // ---------------------------------------------------------------- people & chat

  function renderPeople() {
    var ul = ui.people;
    ul.replaceChildren();
    var list = Array.from(participants.values());
    list.sort(function (a, b) {
      var sa = String(a.id) === String(selfId), sb = String(b.id) === String(selfId);
      if (sa !== sb) return sa ? -1 : 1;
      return String(a.name).localeCompare(String(b.name));
    });
    list.forEach(function (p) {
      var li = document.createElement('li');
      li.dataset.participant = String(p.id);
      var dot = document.createElement('span');
      dot.className = 'swatch';
      dot.style.background = colorOf(String(p.id));
      li.appendChild(dot);
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = p.name || '(no name)';
      li.appendChild(name);
      if (String(p.id) === String(selfId)) {
        var you = document.createElement('span');
        you.className = 'you';
        you.textContent = 'you';
        li.appendChild(you);
      }
      ul.appendChild(li);
    });
    ui.peopleCount.textContent = String(list.length);
  }

  function utf8Length(s) { return new TextEncoder().encode(s).length; }

  function onChat(msg) {
    var li = msg.id != null && pendingChats.get(String(msg.id));
    if (li) pendingChats.delete(String(msg.id));
    else {
      li = document.createElement('li');
      ui.chatLog.appendChild(li);
    }
    fillChat(li, msg.from, msg.text, msg.ts);
    li.classList.remove('pending');
    li.dataset.seq = msg.seq != null ? String(msg.seq) : '';
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
  }

  function fillChat(li, from, text, ts) {
    var p = participants.get(String(from));
    li.replaceChildren();
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = p ? p.name : (String(from) === String(selfId) ? me.name : 'someone');
    who.style.color = colorOf(String(from));
    var when = document.createElement('time');
    var d = typeof ts === 'number' ? new Date(ts) : new Date();
    when.dateTime = d.toISOString();
    when.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    var body = document.createElement('span');
    body.className = 'text';
    body.textContent = String(text);
    li.append(who, when, body);
  }

  ui.chatForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = ui.chatInput.value;
    if (!text.trim() || !joined) return;
    if (utf8Length(text) > MAX_CHAT_BYTES) { notice('That message is too long (' + MAX_CHAT_BYTES + ' bytes at most).'); return; }
    var id = me.id.slice(0, 8) + '-' + (++chatSeq);
    if (!send({ type: 'chat', text: text, id: id })) { notice('Not connected; the message was not sent.'); return; }
    var li = document.createElement('li');
    li.className = 'pending';
    fillChat(li, selfId, text, null);
    ui.chatLog.appendChild(li);
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
    pendingChats.set(id, li);
    ui.chatInput.value = '';
  });

  // ---------------------------------------------------------------- wiring

  ui.editor.addEventListener('input', onLocalInput);
  ui.editor.addEventListener('scroll', function () {
    ui.overlay.scrollTop = ui.editor.scrollTop;
    ui.overlay.scrollLeft = ui.editor.scrollLeft;
  });
  ['select', 'keyup', 'mouseup', 'focus'].forEach(function (ev) { ui.editor.addEventListener(ev, scheduleCursor); });
  document.addEventListener('selectionchange', function () { if (document.activeElement === ui.editor) scheduleCursor(); });
  window.addEventListener('resize', renderOverlay);
  if (window.ResizeObserver) new ResizeObserver(function () { syncOverlayBox(); }).observe(ui.editor);

  ui.copyLink.addEventListener('click', function () {
    var link = location.origin + '/?room=' + encodeURIComponent(room);
    var done = function () {
      ui.copyLink.textContent = 'Copied!';
      ui.copyLink.dataset.copied = link;
      setTimeout(function () { ui.copyLink.textContent = 'Copy link'; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(done, function () { legacyCopy(link) ? done() : prompt('Copy this link:', link); });
    } else if (legacyCopy(link)) done();
    else prompt('Copy this link:', link);
  });

  function legacyCopy(text) {
    var i = document.createElement('textarea');
    i.value = text;
    i.style.position = 'fixed';
    i.style.opacity = '0';
    document.body.appendChild(i);
    i.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    i.remove();
    return ok;
  }

  function enterRoom(r, name) {
    room = r;
    me.name = name;
    storageSet('localStorage', 'ringroom.name', name);
    var q = new URLSearchParams(location.search);
    q.set('room', r);
    q.set('name', name);
    history.replaceState(null, '', location.pathname + '?' + q.toString());
    document.title = r + ' · ringroom';
    ui.joinView.hidden = true;
    ui.roomView.hidden = false;
    ui.roomLabel.hidden = false;
    ui.roomLabel.textContent = '#' + r;
    ui.copyLink.hidden = false;
    connect();
  }

  ui.joinForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var name = ui.joinName.value.trim(), r = ui.joinRoom.value.trim();
    if (!name) { notice('Please give a name.'); return; }
    if (!ROOM_RE.test(r)) { notice('A room name is 1–128 letters, digits, dots, underscores or dashes.'); return; }
    enterRoom(r, name);
  });

  // /?room=NAME&name=ME joins at once; /?room=NAME asks only for the name.
  var params = new URLSearchParams(location.search);
  var qRoom = (params.get('room') || '').trim(), qName = (params.get('name') || '').trim().slice(0, 64);
  ui.joinName.value = qName || storageGet('localStorage', 'ringroom.name') || '';
  ui.joinRoom.value = qRoom;
  if (qRoom && !ROOM_RE.test(qRoom)) notice('"' + qRoom + '" is not a valid room name.');
  if (qRoom && ROOM_RE.test(qRoom) && qName) {
    enterRoom(qRoom, qName);
  } else {
    (qRoom ? ui.joinName : ui.joinRoom.value ? ui.joinName : ui.joinName).focus();
  }

  // for tests and the curious: read-only view of the client's state
  window.ringroom = {
    get state() {
      return {
        room: room, self: selfId, joined: joined, rev: client ? client.revision : null, doc: doc,
        sync: ui.sync.dataset.state, participants: Array.from(participants.values()),
        cursors: Array.from(cursors.entries()).map(function (e) { return { id: e[0], pos: e[1].pos }; }),
      };
    },
  };
  updateStatus();
})();
