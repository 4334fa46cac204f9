// campusguard console: keyboard triage and in-place queue actions. The
// pages work without this script (every action is a form); with it,
// actions go through the JSON API and the page updates in place.
(function () {
  'use strict';

  var dataEl = document.getElementById('cg-i18n');
  var S = {};
  try { S = JSON.parse(dataEl ? dataEl.textContent : '{}') || {}; } catch (e) { S = {}; }
  var csrfEl = document.querySelector('input[name="csrf"]');
  var csrf = csrfEl ? csrfEl.value : '';
  var me = document.body.getAttribute('data-user') || '';

  function t(key) {
    var s = S[key] || key;
    for (var i = 1; i < arguments.length; i++) {
      s = s.replace(/%[sd]/, String(arguments[i]));
    }
    return s;
  }

  var flashArea = document.getElementById('flash');
  function announce(msg, isErr) {
    if (!flashArea) { return; }
    flashArea.textContent = '';
    var p = document.createElement('p');
    p.className = 'flash ' + (isErr ? 'err' : 'ok');
    p.textContent = msg;
    flashArea.appendChild(p);
  }

  // A message carried over a reload (after a conflict).
  try {
    var carried = sessionStorage.getItem('cg-flash');
    if (carried) {
      sessionStorage.removeItem('cg-flash');
      var m = JSON.parse(carried);
      announce(m.msg, m.err);
    }
  } catch (e) { /* storage unavailable */ }

  Array.prototype.forEach.call(document.querySelectorAll('.js-only'), function (el) { el.hidden = false; });

  var rows = Array.prototype.slice.call(document.querySelectorAll('tr[data-item]'));
  var article = document.querySelector('article[data-item]');
  var isList = rows.length > 0;
  var canAct = !!document.querySelector('form.row-actions, form.item-actions');
  var sel = -1;

  function select(i) {
    if (!isList) { return; }
    if (i < 0) { i = 0; }
    if (i >= rows.length) { i = rows.length - 1; }
    if (sel >= 0 && rows[sel]) { rows[sel].classList.remove('selected'); }
    sel = i;
    var r = rows[sel];
    r.classList.add('selected');
    r.focus({ preventScroll: true });
    r.scrollIntoView({ block: 'nearest' });
  }

  function current() {
    if (isList) { return sel >= 0 ? rows[sel] : null; }
    return article;
  }

  // The stack of decisions this tab may undo.
  function undoStack() {
    try { return JSON.parse(sessionStorage.getItem('cg-undo') || '[]'); } catch (e) { return []; }
  }
  function setUndoStack(s) {
    try { sessionStorage.setItem('cg-undo', JSON.stringify(s.slice(-50))); } catch (e) { /* ignore */ }
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.status === 409 && data.code === 'conflict') {
          try { sessionStorage.setItem('cg-flash', JSON.stringify({ msg: data.error, err: true })); } catch (e) { /* ignore */ }
          announce(t('js.conflict'), true);
          setTimeout(function () { location.reload(); }, 1200);
          return null;
        }
        if (!resp.ok) {
          announce(t('js.error') + ' ' + (data.error || resp.status), true);
          return null;
        }
        return data;
      });
    }, function () {
      announce(t('js.network'), true);
      return null;
    });
  }

  function findItem(id) {
    if (article && article.getAttribute('data-id') === String(id)) { return article; }
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute('data-id') === String(id)) { return rows[i]; }
    }
    return null;
  }

  function update(el, item) {
    if (!el || !item) { return; }
    el.setAttribute('data-version', item.version);
    el.setAttribute('data-state', item.state);
    Array.prototype.forEach.call(el.querySelectorAll('input[name="version"]'), function (inp) { inp.value = item.version; });
    var st = el.querySelector('[data-field="state"]');
    if (st) { st.textContent = item.state_label; st.className = 'state st-' + item.state; }
    var cl = el.querySelector('[data-field="claimed"]');
    if (cl) { cl.textContent = item.claimed_by ? ' · ' + item.claimed_by : ''; }
    var v = document.querySelector('[data-field="version"]');
    if (v && el === article) { v.textContent = item.version; }
    el.classList.toggle('decided', item.state === 'approved' || item.state === 'rejected');
    // The item page's claim button follows the claim.
    var cb = el.querySelector('.item-actions button[value="claim"], .item-actions button[value="release"]');
    if (cb) {
      var mine = item.state === 'claimed' && item.claimed_by === me;
      cb.value = mine ? 'release' : 'claim';
      cb.textContent = mine ? t('act.release') : t('act.claim');
    }
    var ub = el.querySelector('.item-actions button[value="undo"]');
    if (ub) { ub.hidden = item.decided_by !== me; }
  }

  function askReason() {
    var d = document.getElementById('reason-dialog');
    var ta = document.getElementById('reason-text');
    if (!d || !ta || typeof d.showModal !== 'function') {
      return Promise.resolve(null);
    }
    ta.value = '';
    d.returnValue = '';
    d.showModal();
    ta.focus();
    return new Promise(function (resolve) {
      d.addEventListener('close', function () {
        var r = ta.value.trim();
        resolve(d.returnValue === 'ok' && r ? r : null);
      }, { once: true });
    });
  }

  function reasonFor(el) {
    // The item page has its own reason field; use it when filled.
    var field = el === article ? document.getElementById('reason') : null;
    if (field && field.value.trim()) { return Promise.resolve(field.value.trim()); }
    return askReason();
  }

  function act(el, op) {
    if (!el) { announce(t('js.select.first'), true); return; }
    var id = el.getAttribute('data-id');
    var body = { version: parseInt(el.getAttribute('data-version'), 10) };
    var start = Promise.resolve(body);
    if (op === 'reject') {
      start = reasonFor(el).then(function (reason) {
        if (!reason) { announce(t('js.reason.required'), true); return null; }
        body.reason = reason;
        return body;
      });
    } else if (el === article && (op === 'approve' || op === 'escalate')) {
      var f = document.getElementById('reason');
      if (f && f.value.trim()) { body.reason = f.value.trim(); }
    }
    start.then(function (b) {
      if (!b) { return; }
      return post('/api/v1/queue/' + encodeURIComponent(id) + '/' + op, b).then(function (data) {
        if (!data) { return; }
        update(el, data.item);
        if (op === 'approve' || op === 'reject' || op === 'escalate') {
          var s = undoStack(); s.push(id); setUndoStack(s);
        }
        announce(t('js.done.' + op, id));
      });
    });
  }

  function undo() {
    var s = undoStack();
    var id = s.length ? s[s.length - 1] : (article ? article.getAttribute('data-id') : null);
    if (!id) { announce(t('js.nothing.undo'), true); return; }
    post('/api/v1/queue/' + encodeURIComponent(id) + '/undo', {}).then(function (data) {
      var st = undoStack();
      var i = st.lastIndexOf(id);
      if (i >= 0) { st.splice(i, 1); setUndoStack(st); }
      if (!data) { return; }
      update(findItem(id), data.item);
      announce(t('js.done.undo', id));
    });
  }

  function checkedRows() {
    return rows.filter(function (r) {
      var cb = r.querySelector('input[type="checkbox"]');
      return cb && cb.checked;
    });
  }

  function toggle(el) {
    if (!el) { announce(t('js.select.first'), true); return; }
    var cb = el.querySelector('input[type="checkbox"]');
    if (!cb) { return; }
    cb.checked = !cb.checked;
    el.classList.toggle('checked', cb.checked);
  }

  function bulk(op, reason) {
    var list = checkedRows();
    var ids = list.map(function (r) { return parseInt(r.getAttribute('data-id'), 10); });
    var start = Promise.resolve(reason || '');
    if (op === 'reject' && !reason) { start = askReason(); }
    start.then(function (r) {
      if (op === 'reject' && !r) { announce(t('js.reason.required'), true); return; }
      post('/api/v1/queue/bulk', { ids: ids, decision: op, reason: r || '' }).then(function (data) {
        if (!data) { return; }
        var s = undoStack();
        data.results.forEach(function (res) {
          var el = findItem(res.id);
          if (res.item) {
            update(el, res.item);
            s.push(String(res.id));
          }
          if (el) {
            var cb = el.querySelector('input[type="checkbox"]');
            if (cb && res.item) { cb.checked = false; el.classList.remove('checked'); }
          }
        });
        setUndoStack(s);
        announce(data.failed ? t('js.bulk.partial', data.ok, data.failed) : t('js.bulk.done', data.ok), data.failed > 0);
      });
    });
  }

  function decide(op) {
    if (isList && checkedRows().length > 0) { bulk(op, ''); return; }
    act(current(), op);
  }

  function help() {
    var d = document.getElementById('help-dialog');
    if (d && typeof d.showModal === 'function') { d.showModal(); }
  }

  // Buttons go through the same paths as keys.
  Array.prototype.forEach.call(document.querySelectorAll('form.row-actions, form.item-actions'), function (form) {
    form.addEventListener('submit', function (e) {
      var op = e.submitter && e.submitter.value;
      if (!op) { return; }
      e.preventDefault();
      var el = form.closest('[data-item]');
      if (isList) { select(rows.indexOf(el)); }
      if (op === 'undo') { undo(); return; }
      act(el, op);
    });
  });
  var bulkForm = document.getElementById('bulk-form');
  if (bulkForm) {
    bulkForm.addEventListener('submit', function (e) {
      e.preventDefault();
      var op = e.submitter && e.submitter.value;
      if (!checkedRows().length) { announce(t('js.select.first'), true); return; }
      var r = document.getElementById('bulk-reason');
      bulk(op, r ? r.value.trim() : '');
    });
  }
  var noteForm = document.querySelector('form.note-form');
  if (noteForm) {
    noteForm.addEventListener('submit', function (e) {
      e.preventDefault();
      var ta = noteForm.querySelector('textarea');
      var text = ta.value.trim();
      if (!text) { return; }
      var id = noteForm.getAttribute('data-id');
      post('/api/v1/queue/' + encodeURIComponent(id) + '/note', { text: text }).then(function (data) {
        if (!data) { return; }
        update(article, data.item);
        var list = document.querySelector('ol.notes');
        if (!list) {
          list = document.createElement('ol');
          list.className = 'notes';
          noteForm.parentNode.insertBefore(list, noteForm);
          var none = noteForm.parentNode.querySelector('p.muted');
          if (none) { none.remove(); }
        }
        var li = document.createElement('li');
        var meta = document.createElement('p');
        meta.className = 'note-meta';
        var who = document.createElement('strong');
        who.textContent = me;
        meta.appendChild(who);
        var p = document.createElement('p');
        p.className = 'note-text';
        p.textContent = text;
        li.appendChild(meta);
        li.appendChild(p);
        list.appendChild(li);
        ta.value = '';
        announce(t('js.done.note', id));
      });
    });
  }
  var undoBtn = document.getElementById('undo-last');
  if (undoBtn) { undoBtn.addEventListener('click', undo); }
  var helpBtn = document.getElementById('help-open');
  if (helpBtn) { helpBtn.addEventListener('click', help); }

  // In the reason dialog, Enter submits and Shift+Enter starts a new line.
  var reasonText = document.getElementById('reason-text');
  if (reasonText) {
    reasonText.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        var ok = reasonText.form.querySelector('button[value="ok"]');
        reasonText.form.requestSubmit(ok);
      }
    });
  }

  rows.forEach(function (r, i) {
    r.addEventListener('click', function (e) {
      if (e.target.closest('a, button, input, label')) { return; }
      select(i);
    });
    var cb = r.querySelector('input[type="checkbox"]');
    if (cb) { cb.addEventListener('change', function () { r.classList.toggle('checked', cb.checked); }); }
  });

  // The key that opened a dialog must not also type into it: its
  // keypress, which can follow the keydown that moved the focus, is
  // swallowed until the key is released.
  var swallow = '';
  document.addEventListener('keypress', function (e) {
    if (swallow && e.key === swallow) { e.preventDefault(); e.stopPropagation(); }
  }, true);
  document.addEventListener('keyup', function (e) {
    if (swallow && e.key === swallow) { swallow = ''; }
  }, true);

  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var tgt = e.target;
    if (tgt && (tgt.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(tgt.tagName))) { return; }
    if (document.querySelector('dialog[open]')) { return; }
    if (!isList && !article) { return; }
    var handled = true;
    switch (e.key) {
      case 'j': select(sel + 1); break;
      case 'k': select(sel - 1); break;
      case 'o':
        var cur = current();
        var link = cur && cur.querySelector('a.item-link');
        if (link) { location.href = link.href; }
        break;
      case '?': help(); break;
      default:
        if (!canAct) { handled = false; break; }
        switch (e.key) {
          case 'c': act(current(), 'claim'); break;
          case 'a': decide('approve'); break;
          case 'r': decide('reject'); break;
          case 'e': decide('escalate'); break;
          case 'u': undo(); break;
          case 'x': toggle(current()); break;
          default: handled = false;
        }
    }
    if (handled) {
      e.preventDefault();
      swallow = e.key;
    }
  });
})();
