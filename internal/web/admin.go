package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/campusguard/campusguard/internal/state"
)

const auditPageSize = 50

type auditData struct {
	Entries  []state.AuditEntry
	ChainN   int
	ChainErr string
	Next     string
	Before   int64
}

// auditPage lists the audit log newest first, a page at a time (before=ID),
// with the result of walking the whole hash chain.
func (c *Console) auditPage(rq *req) {
	var d auditData
	before, err := strconv.ParseInt(rq.r.URL.Query().Get("before"), 10, 64)
	if err != nil || before < 0 {
		before = 0
	}
	d.Before = before
	d.Entries, err = c.db.AuditLog(rq.r.Context(), auditPageSize+1, before)
	if err != nil {
		c.log.Error("audit log", "err", err)
		c.errorPage(rq, 500, "error.internal")
		return
	}
	if len(d.Entries) > auditPageSize {
		d.Entries = d.Entries[:auditPageSize]
		d.Next = "/audit?before=" + strconv.FormatInt(d.Entries[len(d.Entries)-1].ID, 10)
	}
	d.ChainN, err = c.db.VerifyAudit(rq.r.Context())
	if err != nil {
		d.ChainErr = err.Error()
	}
	c.render(rq, 200, "audit", "audit.title", d)
}

type usersData struct {
	Users []state.User
	Roles []string
	Err   string
	Name  string
	Role  string
}

func (c *Console) usersPage(rq *req) { c.renderUsers(rq, 200, usersData{}) }

func (c *Console) renderUsers(rq *req, code int, d usersData) {
	var err error
	d.Users, err = c.db.Users(rq.r.Context())
	if err != nil {
		c.log.Error("users", "err", err)
		c.errorPage(rq, 500, "error.internal")
		return
	}
	d.Roles = []string{string(state.RoleViewer), string(state.RoleModerator), string(state.RoleAdmin)}
	c.render(rq, code, "users", "users.title", d)
}

func (c *Console) usersAdd(rq *req) {
	name := strings.TrimSpace(rq.r.PostFormValue("name"))
	role, err := state.ParseRole(rq.r.PostFormValue("role"))
	pw := rq.r.PostFormValue("password")
	d := usersData{Name: name, Role: string(role)}
	if err != nil {
		d.Err = rq.T("users.err.role")
		c.renderUsers(rq, 400, d)
		return
	}
	if pw != rq.r.PostFormValue("password2") {
		d.Err = rq.T("users.err.mismatch")
		c.renderUsers(rq, 400, d)
		return
	}
	if _, err := c.db.AddUser(rq.r.Context(), name, role, pw); err != nil {
		// state's errors are English sentences for the CLI; the console
		// names the cause in the user's language.
		msg := err.Error()
		switch {
		case strings.Contains(msg, "exists"):
			d.Err = rq.T("users.err.exists")
		case strings.Contains(msg, "too short"):
			d.Err = rq.T("users.err.short", state.MinPasswordLen)
		case strings.Contains(msg, "too long"):
			d.Err = rq.T("users.err.long")
		case strings.Contains(msg, "user name"):
			d.Err = rq.T("users.err.name")
		default:
			c.log.Error("add user", "err", err)
			d.Err = rq.T("error.internal")
		}
		c.renderUsers(rq, 400, d)
		return
	}
	_ = c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "user.add", Object: "user:" + name,
		After: state.MarshalAudit(map[string]string{"role": string(role)})})
	redirect(rq, "/users?done=useradd")
}

func (c *Console) usersRemove(rq *req) {
	name := rq.r.PostFormValue("name")
	if name == rq.user() {
		redirect(rq, "/users?fail=self")
		return
	}
	if err := c.db.RemoveUser(rq.r.Context(), name); err != nil {
		d := usersData{}
		switch {
		case errors.Is(err, state.ErrNotFound):
			d.Err = rq.T("users.err.notfound")
		case strings.Contains(err.Error(), "last admin"):
			d.Err = rq.T("users.err.lastadmin")
		default:
			c.log.Error("remove user", "err", err)
			d.Err = rq.T("error.internal")
		}
		c.renderUsers(rq, 400, d)
		return
	}
	_ = c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "user.remove", Object: "user:" + name})
	redirect(rq, "/users?done=userremove")
}

type tokensData struct {
	Tokens []state.Token
	Scopes []string
	Err    string
	Name   string
	Scope  string
	// Secret is a new token's secret, shown on this one response only.
	Secret    string
	NewName   string
	NewScope  string
	CreatedOK bool
}

func (c *Console) tokensPage(rq *req) { c.renderTokens(rq, 200, tokensData{}) }

func (c *Console) renderTokens(rq *req, code int, d tokensData) {
	var err error
	d.Tokens, err = c.db.Tokens(rq.r.Context())
	if err != nil {
		c.log.Error("tokens", "err", err)
		c.errorPage(rq, 500, "error.internal")
		return
	}
	d.Scopes = []string{string(state.ScopeIngest), string(state.ScopeBouncer), string(state.ScopeFeeds)}
	c.render(rq, code, "tokens", "tokens.title", d)
}

func (c *Console) tokensAdd(rq *req) {
	name := strings.TrimSpace(rq.r.PostFormValue("name"))
	d := tokensData{Name: name, Scope: rq.r.PostFormValue("scope")}
	scope, err := state.ParseScope(d.Scope)
	if err != nil {
		d.Err = rq.T("tokens.err.scope")
		c.renderTokens(rq, 400, d)
		return
	}
	secret, _, err := c.db.AddToken(rq.r.Context(), name, scope)
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "exists"):
			d.Err = rq.T("tokens.err.exists")
		case strings.Contains(msg, "name"):
			d.Err = rq.T("users.err.name")
		default:
			c.log.Error("add token", "err", err)
			d.Err = rq.T("error.internal")
		}
		c.renderTokens(rq, 400, d)
		return
	}
	_ = c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "token.add", Object: "token:" + name,
		After: state.MarshalAudit(map[string]string{"scope": string(scope)})})
	// Shown once: rendered into this response, never redirected to a URL.
	c.renderTokens(rq, 200, tokensData{Secret: secret, NewName: name, NewScope: string(scope), CreatedOK: true})
}

func (c *Console) tokensRevoke(rq *req) {
	name := rq.r.PostFormValue("name")
	if err := c.db.RevokeToken(rq.r.Context(), name); err != nil {
		d := tokensData{}
		if errors.Is(err, state.ErrNotFound) {
			d.Err = rq.T("tokens.err.notfound")
		} else {
			c.log.Error("revoke token", "err", err)
			d.Err = rq.T("error.internal")
		}
		c.renderTokens(rq, 400, d)
		return
	}
	_ = c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "token.revoke", Object: "token:" + name})
	redirect(rq, "/tokens?done=tokenrevoke")
}

// redirect answers a form post with 303 See Other to a page here.
func redirect(rq *req, to string) {
	http.Redirect(rq.w, rq.r, localPath(to), http.StatusSeeOther)
}
