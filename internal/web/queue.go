package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/moderation"
	"github.com/campusguard/campusguard/internal/state"
)

const (
	queuePageSize = 50
	maxAPIBody    = 64 << 10
)

// queueOps are the actions on one item; each is also a key of the JSON
// API (/api/v1/queue/{id}/{op}) and of the form fallback.
var queueOps = map[string]bool{"claim": true, "release": true, "approve": true, "reject": true,
	"escalate": true, "undo": true, "note": true}

type queueRow struct {
	moderation.Item
	TitleSegs []segment
	Mine      bool // claimed by the viewing user
}

type queueData struct {
	Rows     []queueRow
	Total    int
	Forum    string
	Category string
	State    string
	States   []string
	Offset   int
	Prev     string
	Next     string
	Err      string
	Filtered bool
}

// parseQueueFilter reads the queue's filter form: state ("" for the open
// queue, "all", or one state), forum, category and offset, bounded like
// every query string.
func parseQueueFilter(q url.Values) (moderation.ListFilter, queueData, bool) {
	var d queueData
	ok := true
	clean := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > maxFilterBytes {
			ok = false
			return ""
		}
		return s
	}
	f := moderation.ListFilter{Limit: queuePageSize}
	d.Forum, d.Category = clean(q.Get("forum")), clean(q.Get("category"))
	f.Forum, f.Category = d.Forum, d.Category
	switch st := q.Get("state"); st {
	case "", "open":
	case "all":
		f.States = moderation.States()
		d.State = "all"
	default:
		found := false
		for _, s := range moderation.States() {
			if string(s) == st {
				f.States, d.State, found = []moderation.State{s}, st, true
			}
		}
		ok = ok && found
	}
	if o := q.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 || n > 1_000_000 {
			ok = false
		} else {
			f.Offset, d.Offset = n, n
		}
	}
	d.Filtered = d.Forum != "" || d.Category != "" || d.State != ""
	return f, d, ok
}

func (c *Console) queueList(rq *req) {
	q := rq.r.URL.Query()
	f, d, ok := parseQueueFilter(q)
	code := 200
	if !ok {
		code = 400
		d.Err = rq.T("queue.err.filter")
	}
	d.States = []string{"all"}
	for _, s := range moderation.States() {
		d.States = append(d.States, string(s))
	}
	if ok {
		items, total, err := c.queue.List(rq.r.Context(), f)
		if err != nil {
			c.log.Error("queue list", "err", err)
			d.Err = rq.T("queue.err.list")
			code = 500
		}
		d.Total = total
		mod := rq.role().Allows(state.RoleModerator)
		for _, it := range items {
			row := queueRow{Item: it, Mine: it.State == moderation.StateClaimed && it.ClaimedBy == rq.user()}
			if mod {
				row.TitleSegs = highlight(it.Title, it.Hits, event.FieldTitle)
			} else {
				// Viewers see the queue's shape, not the posts: no title,
				// body or author.
				row.Title, row.Body, row.Author, row.Notes = "", "", "", nil
			}
			d.Rows = append(d.Rows, row)
		}
		page := func(off int) string {
			v := url.Values{}
			for _, k := range []string{"forum", "category", "state"} {
				if s := q.Get(k); s != "" {
					v.Set(k, s)
				}
			}
			if off > 0 {
				v.Set("offset", strconv.Itoa(off))
			}
			if len(v) == 0 {
				return "/queue"
			}
			return "/queue?" + v.Encode()
		}
		if f.Offset > 0 {
			d.Prev = page(max(f.Offset-queuePageSize, 0))
		}
		if f.Offset+len(items) < total {
			d.Next = page(f.Offset + len(items))
		}
	}
	c.render(rq, code, "queue", "queue.title", d)
}

type itemData struct {
	Item        moderation.Item
	TitleSegs   []segment
	BodySegs    []segment
	History     moderation.History
	HistErr     bool
	ClaimedMine bool
	CanUndo     bool
	Next        string
}

// queueItem shows one post with its matches marked, its notes and the
// author's history. Opening it is a read of personal data: it is audited
// first, and not shown if the audit fails.
func (c *Console) queueItem(rq *req) {
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.errorPage(rq, 404, "error.notfound")
		return
	}
	it, err := c.queue.Get(rq.r.Context(), id)
	if errors.Is(err, moderation.ErrNotFound) {
		c.errorPage(rq, 404, "error.notfound")
		return
	}
	if err != nil {
		c.log.Error("queue item", "id", id, "err", err)
		c.errorPage(rq, 500, "error.internal")
		return
	}
	if err := c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "queue.view",
		Object: "post:" + it.Forum + "/" + it.PostID}); err != nil {
		c.errorPage(rq, 500, "error.audit")
		return
	}
	d := itemData{Item: it,
		TitleSegs:   highlight(it.Title, it.Hits, event.FieldTitle),
		BodySegs:    highlight(it.Body, it.Hits, event.FieldText),
		ClaimedMine: it.State == moderation.StateClaimed && it.ClaimedBy == rq.user(),
		CanUndo:     it.DecidedBy == rq.user() && !it.DecidedAt.IsZero(),
		Next:        rq.r.URL.Path,
	}
	d.History, err = c.queue.AuthorHistory(rq.r.Context(), it.Forum, it.Author)
	if err != nil {
		c.log.Error("author history", "err", err)
		d.HistErr = true
	}
	c.render(rq, 200, "item", "item.title", d)
}

// act performs one queue action for user.
func (c *Console) act(ctx context.Context, user string, id int64, op string, version int, reason, text string) (moderation.Item, error) {
	switch op {
	case "claim":
		return c.queue.Claim(ctx, id, version, user)
	case "release":
		return c.queue.Release(ctx, id, version, user)
	case "approve":
		return c.queue.Decide(ctx, id, version, user, moderation.DecideApprove, reason)
	case "reject":
		return c.queue.Decide(ctx, id, version, user, moderation.DecideReject, reason)
	case "escalate":
		return c.queue.Decide(ctx, id, version, user, moderation.DecideEscalate, reason)
	case "undo":
		return c.queue.Undo(ctx, id, user)
	case "note":
		return c.queue.AddNote(ctx, id, user, text)
	}
	return moderation.Item{}, fmt.Errorf("%w: unknown action %q", moderation.ErrInvalid, op)
}

// errCode maps a queue error to an HTTP status, a stable code and the
// flash key that explains it.
func errCode(err error) (int, string, string) {
	switch {
	case errors.Is(err, moderation.ErrNotFound):
		return http.StatusNotFound, "not_found", "notfound"
	case errors.Is(err, moderation.ErrNeedReason):
		return http.StatusUnprocessableEntity, "need_reason", "needreason"
	case errors.Is(err, moderation.ErrUndoExpired):
		return http.StatusConflict, "undo_expired", "undoexpired"
	case errors.Is(err, moderation.ErrNotDecider):
		return http.StatusConflict, "not_decider", "notdecider"
	case errors.Is(err, moderation.ErrConflict):
		return http.StatusConflict, "conflict", "conflict"
	case errors.Is(err, moderation.ErrInvalid):
		return http.StatusBadRequest, "invalid", "invalid"
	}
	return http.StatusInternalServerError, "internal", ""
}

func (c *Console) count(op string, err error) {
	res := "ok"
	if err != nil {
		res = "error"
		if errors.Is(err, moderation.ErrConflict) || errors.Is(err, moderation.ErrUndoExpired) {
			res = "conflict"
		}
	}
	if !queueOps[op] && op != "bulk" {
		op = "other"
	}
	c.metrics.queueActions.WithLabelValues(op, res).Inc()
}

// itemJSON is what the console's script needs of an item after an action.
type itemJSON struct {
	ID         int64  `json:"id"`
	Version    int    `json:"version"`
	State      string `json:"state"`
	StateLabel string `json:"state_label"`
	ClaimedBy  string `json:"claimed_by"`
	DecidedBy  string `json:"decided_by"`
	Reason     string `json:"reason"`
	Notes      int    `json:"notes"`
}

func toJSON(rq *req, it moderation.Item) itemJSON {
	return itemJSON{ID: it.ID, Version: it.Version, State: string(it.State), StateLabel: rq.V("state", string(it.State)),
		ClaimedBy: it.ClaimedBy, DecidedBy: it.DecidedBy, Reason: it.Reason, Notes: len(it.Notes)}
}

type actionBody struct {
	Version  *int    `json:"version"`
	Reason   string  `json:"reason"`
	Text     string  `json:"text"`
	IDs      []int64 `json:"ids"`
	Decision string  `json:"decision"`
}

// readJSON decodes the API's JSON body: application/json only (a form
// post from another site cannot send it), bounded, no unknown fields.
func readJSON(rq *req, v any) error {
	mt, _, err := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errors.New("want Content-Type application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(rq.w, rq.r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("one JSON object expected")
	}
	return nil
}

func (c *Console) apiItemAction(rq *req) {
	op := rq.r.PathValue("op")
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 || !queueOps[op] {
		writeJSON(rq.w, http.StatusNotFound, apiError{Error: rq.T("error.notfound"), Code: "not_found"})
		return
	}
	var b actionBody
	if err := readJSON(rq, &b); err != nil {
		writeJSON(rq.w, http.StatusBadRequest, apiError{Error: rq.T("fail.invalid"), Code: "invalid"})
		return
	}
	version := -1
	if b.Version != nil {
		version = *b.Version
	}
	if version < 0 && op != "undo" && op != "note" {
		writeJSON(rq.w, http.StatusBadRequest, apiError{Error: rq.T("fail.invalid"), Code: "invalid"})
		return
	}
	it, err := c.act(rq.r.Context(), rq.user(), id, op, version, b.Reason, b.Text)
	c.count(op, err)
	if err != nil {
		code, name, key := errCode(err)
		if key == "" {
			c.log.Error("queue action", "op", op, "id", id, "err", err)
			writeJSON(rq.w, code, apiError{Error: rq.T("error.internal"), Code: name})
			return
		}
		writeJSON(rq.w, code, apiError{Error: rq.T("fail." + key), Code: name})
		return
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"item": toJSON(rq, it)})
}

type bulkResult struct {
	ID    int64     `json:"id"`
	Item  *itemJSON `json:"item,omitempty"`
	Error string    `json:"error,omitempty"`
	Code  string    `json:"code,omitempty"`
}

func bulkDecision(s string) (moderation.Decision, bool) {
	switch d := moderation.Decision(s); d {
	case moderation.DecideApprove, moderation.DecideReject, moderation.DecideEscalate:
		return d, true
	}
	return "", false
}

func (c *Console) apiBulk(rq *req) {
	var b actionBody
	if err := readJSON(rq, &b); err != nil {
		writeJSON(rq.w, http.StatusBadRequest, apiError{Error: rq.T("fail.invalid"), Code: "invalid"})
		return
	}
	d, ok := bulkDecision(b.Decision)
	if !ok || len(b.IDs) == 0 || len(b.IDs) > moderation.MaxBulk {
		writeJSON(rq.w, http.StatusBadRequest, apiError{Error: rq.T("fail.invalid"), Code: "invalid"})
		return
	}
	if d == moderation.DecideReject && strings.TrimSpace(b.Reason) == "" {
		writeJSON(rq.w, http.StatusUnprocessableEntity, apiError{Error: rq.T("fail.needreason"), Code: "need_reason"})
		return
	}
	items, errs := c.queue.Bulk(rq.r.Context(), b.IDs, rq.user(), d, b.Reason)
	out := struct {
		Results []bulkResult `json:"results"`
		OK      int          `json:"ok"`
		Failed  int          `json:"failed"`
	}{Results: make([]bulkResult, len(b.IDs))}
	for i, id := range b.IDs {
		r := bulkResult{ID: id}
		if errs[i] != nil {
			_, name, key := errCode(errs[i])
			r.Code = name
			if key == "" {
				c.log.Error("bulk decision", "id", id, "err", errs[i])
				r.Error = rq.T("error.internal")
			} else {
				r.Error = rq.T("fail." + key)
			}
			out.Failed++
		} else {
			j := toJSON(rq, items[i])
			r.Item = &j
			out.OK++
		}
		c.count("bulk", errs[i])
		out.Results[i] = r
	}
	writeJSON(rq.w, http.StatusOK, out)
}

// withParam adds key=value to a local path's query.
func withParam(path, key, value string) string {
	u, err := url.Parse(localPath(path))
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Del("done")
	q.Del("fail")
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// queueFormAction is the same as the JSON API for a browser without
// script: a form post that redirects back with a message.
func (c *Console) queueFormAction(rq *req) {
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	op := rq.r.PostFormValue("op")
	next := rq.r.PostFormValue("next")
	if next == "" {
		next = "/queue/" + rq.r.PathValue("id")
	}
	if err != nil || id <= 0 || !queueOps[op] {
		c.errorPage(rq, 400, "fail.invalid")
		return
	}
	version := -1
	if v := rq.r.PostFormValue("version"); v != "" {
		if version, err = strconv.Atoi(v); err != nil {
			c.errorPage(rq, 400, "fail.invalid")
			return
		}
	}
	reason := rq.r.PostFormValue("reason")
	if op == "reject" && strings.TrimSpace(reason) == "" {
		// A reject without a reason goes to the item page, where the
		// reason field is.
		http.Redirect(rq.w, rq.r, withParam("/queue/"+strconv.FormatInt(id, 10), "fail", "needreason")+"#reason", http.StatusSeeOther)
		return
	}
	_, err = c.act(rq.r.Context(), rq.user(), id, op, version, reason, rq.r.PostFormValue("text"))
	c.count(op, err)
	if err != nil {
		_, _, key := errCode(err)
		if key == "" {
			c.log.Error("queue action", "op", op, "id", id, "err", err)
			c.errorPage(rq, 500, "error.internal")
			return
		}
		http.Redirect(rq.w, rq.r, withParam(next, "fail", key), http.StatusSeeOther)
		return
	}
	http.Redirect(rq.w, rq.r, withParam(next, "done", op), http.StatusSeeOther)
}

func (c *Console) queueFormBulk(rq *req) {
	next := rq.r.PostFormValue("next")
	if next == "" {
		next = "/queue"
	}
	d, ok := bulkDecision(rq.r.PostFormValue("op"))
	var ids []int64
	for _, s := range rq.r.PostForm["ids"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			ok = false
			break
		}
		ids = append(ids, id)
	}
	if !ok || len(ids) == 0 || len(ids) > moderation.MaxBulk {
		http.Redirect(rq.w, rq.r, withParam(next, "fail", "invalid"), http.StatusSeeOther)
		return
	}
	reason := rq.r.PostFormValue("reason")
	if d == moderation.DecideReject && strings.TrimSpace(reason) == "" {
		http.Redirect(rq.w, rq.r, withParam(next, "fail", "needreason"), http.StatusSeeOther)
		return
	}
	_, errs := c.queue.Bulk(rq.r.Context(), ids, rq.user(), d, reason)
	failed := 0
	for _, err := range errs {
		c.count("bulk", err)
		if err != nil {
			failed++
		}
	}
	if failed > 0 {
		http.Redirect(rq.w, rq.r, withParam(next, "fail", "bulkpartial"), http.StatusSeeOther)
		return
	}
	http.Redirect(rq.w, rq.r, withParam(next, "done", "bulk"), http.StatusSeeOther)
}
