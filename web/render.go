package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/rules"
)

type pageTemplate = template.Template

// parsePages parses each page together with the layout, so that every
// page defines its own "content" and the layout stays one file.
func (s *Server) parsePages() (map[string]*pageTemplate, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(s.funcs()).ParseFS(assets, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// view is what every page's template gets.
type view struct {
	Title    string
	Page     string // the page's name: body's data-page, and the current nav item
	CSRF     string
	Flash    *flash
	LoggedIn bool
	Data     any
}

// flash is the result of the last action, shown once on the next page.
type flash struct {
	Kind string `json:"k"` // ok, error
	Text string `json:"t"`
}

const flashCookie = "outreach_flash"

// setFlash keeps a message for the page the browser is redirected to
// (post/redirect/get, so a reload never repeats an action).
func setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	b, _ := json.Marshal(flash{Kind: kind, Text: text})
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 60})
}

// takeFlash reads the message and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || f.Text == "" {
		return nil
	}
	return &f
}

// redirect ends an action: the message, then the page to show it on.
func redirect(w http.ResponseWriter, r *http.Request, to, kind, text string) error {
	setFlash(w, r, kind, text)
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *session, status int, page, title string,
	data any, csrf ...string) {
	v := view{Title: title, Page: page, Data: data, LoggedIn: sess != nil}
	if sess != nil {
		v.CSRF = sess.CSRFToken
	}
	if len(csrf) > 0 {
		v.CSRF = csrf[0]
	}
	if status == http.StatusOK {
		v.Flash = takeFlash(w, r)
	}
	var buf bytes.Buffer
	t := s.pages[page]
	if t == nil {
		s.cfg.Log.Error("web: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.cfg.Log.Error("web: render", "page", page, "err", err)
		http.Error(w, "internal error: the page could not be shown; the log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorView is the page for a refused or failed request.
type errorView struct {
	Status  int
	Heading string
	Message string
}

// refuse answers 403: no session, or a POST without this page's token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, sess *session, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, sess, http.StatusForbidden, "error", "Not allowed",
		errorView{Status: http.StatusForbidden, Heading: "Not allowed", Message: msg})
}

// fail shows an error with the status of its kind. An internal error's
// text stays in the log: it can name SQL, and it helps nobody on the page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	status := httpStatus(err)
	msg := err.Error()
	if status >= 500 {
		s.cfg.Log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something went wrong on our side; the log of outreach has the details. Try again in a moment."
		if status == http.StatusServiceUnavailable {
			msg = "The database cannot be reached right now: " + err.Error()
		}
	}
	s.render(w, r, sess, status, "error", http.StatusText(status),
		errorView{Status: status, Heading: http.StatusText(status), Message: msg})
}

// httpStatus is the one place error kinds become HTTP statuses.
func httpStatus(err error) int {
	switch outreach.KindOf(err) {
	case outreach.KindInvalid:
		return http.StatusBadRequest
	case outreach.KindNotFound:
		return http.StatusNotFound
	case outreach.KindConflict:
		return http.StatusConflict
	case outreach.KindSchema, outreach.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// funcs are the helpers templates may call.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"when":        s.when,
		"day":         s.day,
		"ago":         s.ago,
		"threadState": threadStateLabel,
		"draftState":  draftStateLabel,
		"closedWhy":   closedReasonLabel,
		"plural":      plural,
		"join":        strings.Join,
		"add":         func(a, b int) int { return a + b },
		"nextAction":  nextActionLabel,
	}
}

// when is a time as the applicant reads it, in their zone.
func (s *Server) when(t any) string {
	tt, ok := timeOf(t)
	if !ok {
		return "-"
	}
	return tt.In(s.cfg.Location).Format("Mon 2 Jan 2006, 15:04")
}

func (s *Server) day(t any) string {
	tt, ok := timeOf(t)
	if !ok {
		return "-"
	}
	return tt.In(s.cfg.Location).Format("2 Jan 2006")
}

// ago is a rough distance from now: "3 days ago", "in 2 hours".
func (s *Server) ago(t any) string {
	tt, ok := timeOf(t)
	if !ok {
		return ""
	}
	d := s.cfg.Now().Sub(tt)
	switch {
	case d < -time.Minute:
		return "in " + roughly(-d)
	case d < time.Minute:
		return "just now"
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return plural(int(d.Hours()/24), "day")
	case d >= 2*time.Hour:
		return plural(int(d.Hours()), "hour")
	case d >= time.Hour:
		return "an hour"
	}
	return plural(max(1, int(d.Minutes())), "minute")
}

func timeOf(t any) (time.Time, bool) {
	switch v := t.(type) {
	case time.Time:
		return v, !v.IsZero()
	case *time.Time:
		if v == nil {
			return time.Time{}, false
		}
		return *v, !v.IsZero()
	}
	return time.Time{}, false
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// threadStateLabel says a thread's state in the applicant's words.
func threadStateLabel(state any) string {
	st := outreach.ThreadState(fmt.Sprint(state))
	if l, ok := threadStateLabels[st]; ok {
		return l
	}
	return strings.ReplaceAll(string(st), "_", " ")
}

var threadStateLabels = map[outreach.ThreadState]string{
	outreach.ThreadAwaitingReply:    "Waiting for a reply",
	outreach.ThreadFollowUpDue:      "Follow-up due",
	outreach.ThreadDraftProposed:    "Draft waiting for you",
	outreach.ThreadFollowedUp:       "Followed up",
	outreach.ThreadClosedNoResponse: "Closed: no response",
	outreach.ThreadReplied:          "Replied",
	outreach.ThreadBounced:          "Bounced",
	outreach.ThreadPaused:           "Paused",
	outreach.ThreadNeedsReview:      "Needs your review",
	outreach.ThreadBlocked:          "Blocked",
	outreach.ThreadClosedByUser:     "Closed by you",
}

// nextActionLabel says the planner's next step in words.
func nextActionLabel(action string) string {
	if l, ok := nextActionLabels[action]; ok {
		return l
	}
	return strings.ReplaceAll(action, "_", " ")
}

var nextActionLabels = map[string]string{
	rules.ActionProposeFollowUp: "follow-up proposed",
	rules.ActionExpireDraft:     "draft expires",
	rules.ActionCloseNoResponse: "closes without response",
	rules.ActionResume:          "resumes",
	"decide":                    "decided again",
}

// closedReasonLabels put rules' closing reasons in words.
var closedReasonLabels = map[string]string{
	rules.ClosedNoResponse:  "no response after the follow-up",
	rules.ClosedDraftExpiry: "the follow-up draft was not approved in time",
	rules.ClosedTooLate:     "too late for a follow-up when the email was found",
	rules.ClosedDeclined:    "you chose not to follow up",
	rules.ClosedByUser:      "closed by you",
}

// closedReasonLabel says why a thread closed; an unknown reason as it is.
func closedReasonLabel(reason string) string {
	if l, ok := closedReasonLabels[reason]; ok {
		return l
	}
	return reason
}

// draftStateLabel says a draft's state in the applicant's words.
func draftStateLabel(state any) string {
	st := outreach.DraftState(fmt.Sprint(state))
	if l, ok := draftStateLabels[st]; ok {
		return l
	}
	return string(st)
}

var draftStateLabels = map[outreach.DraftState]string{
	outreach.DraftProposed:   "Waiting for your approval",
	outreach.DraftApproved:   "Approved: goes out in the send window",
	outreach.DraftSending:    "Sending",
	outreach.DraftSent:       "Sent",
	outreach.DraftRetry:      "Will be retried",
	outreach.DraftFailed:     "Failed",
	outreach.DraftReview:     "May have been sent: check your Sent folder",
	outreach.DraftRejected:   "Rejected",
	outreach.DraftSuperseded: "Withdrawn",
	outreach.DraftExpired:    "Expired",
}
