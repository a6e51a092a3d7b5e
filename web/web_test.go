package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// client is a browser without JavaScript: a cookie jar, no redirects
// followed, so each answer's status can be checked.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, f *fixture) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: f.ts.URL, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer: status, where it redirects, the HTML.
type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// post sends a form as a browser on this page would: with its Origin.
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	return c.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token a page's forms carry.
func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token on the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// login logs in with the password and returns the CSRF token of Today.
func (c *client) login(password string) string {
	c.t.Helper()
	form := c.get("/login")
	r := c.post("/login", url.Values{"csrf": {form.csrf(c.t)}, "secret": {password}})
	if r.status != http.StatusSeeOther || r.location != "/" {
		c.t.Fatalf("login: status %d to %q:\n%s", r.status, r.location, r.body)
	}
	today := c.get("/")
	if today.status != http.StatusOK {
		c.t.Fatalf("Today after login: %d", today.status)
	}
	return today.csrf(c.t)
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestUnauthenticatedRequestsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	for _, path := range []string{"/", "/drafts/1", "/threads", "/contacts?q=chen", "/settings"} {
		r := c.get(path)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want a redirect to /login", path, r.status, r.location)
		}
	}
	id := f.drafts["Chen"]
	r := c.post(fmt.Sprintf("/drafts/%d/approve", id), url.Values{"version": {"1"}, "csrf": {"guess"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "not logged in") {
		t.Errorf("POST without a session: %d\n%s", r.status, r.body)
	}
	if d := f.draft(t, id); d.State != outreach.DraftProposed {
		t.Errorf("draft is %s after an unauthenticated approval", d.State)
	}
	// A made-up session cookie is no session.
	u, _ := url.Parse(f.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: randomToken()}})
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("GET / with a forged session cookie: %d", r.status)
	}
}

func TestLoginWithPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	form := c.get("/login?next=/threads")
	mustContain(t, "login page", form.body, `<label for="secret">Password</label>`, `name="next" value="/threads"`)
	wrong := c.post("/login", url.Values{"csrf": {form.csrf(t)}, "secret": {"wrong password"}})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, "not right") {
		t.Errorf("a wrong password: %d", wrong.status)
	}
	if r := c.post("/login", url.Values{"secret": {testPassword}}); r.status != http.StatusForbidden {
		t.Errorf("a login without its CSRF token: %d", r.status)
	}
	// Each form shown has a fresh token: the one of the form the browser shows now.
	token := wrong.csrf(t)
	r := c.post("/login", url.Values{"csrf": {token}, "secret": {testPassword}, "next": {"/threads"}})
	if r.status != http.StatusSeeOther || r.location != "/threads" {
		t.Fatalf("login: %d to %q", r.status, r.location)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), attr) {
			t.Errorf("session cookie lacks %s: %q", attr, cookie)
		}
	}
	if got := c.get("/threads"); got.status != http.StatusOK || !strings.Contains(got.body, "Wei Chen") {
		t.Errorf("threads after login: %d", got.status)
	}
	// Logging out ends the session in the database, not only the cookie.
	today := c.get("/")
	if r := c.post("/logout", url.Values{"csrf": {today.csrf(t)}}); r.status != http.StatusSeeOther {
		t.Errorf("logout: %d", r.status)
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("GET / after logout: %d", r.status)
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	if _, err := HashPassword("short"); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("a short password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("long ", 20)); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("a password past bcrypt's 72 bytes: %v", err)
	}
	hash, err := HashPassword(testPassword)
	if err != nil || !strings.HasPrefix(hash, "$2a$10$") {
		t.Fatalf("hash %q, %v", hash, err)
	}
	s := &Server{login: newLoginGate()}
	if !s.checkSecret(hash, testPassword) || s.checkSecret(hash, testPassword+"!") {
		t.Errorf("checkSecret does not tell the password from another")
	}
}

// Ten wrong passwords lock the form for a while, even for the right one.
func TestLoginLocksAfterFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	form := c.get("/login")
	for i := range maxFailures {
		r := c.post("/login", url.Values{"csrf": {form.csrf(t)}, "secret": {fmt.Sprintf("guess %d", i)}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.status)
		}
		form = r
	}
	r := c.post("/login", url.Values{"csrf": {form.csrf(t)}, "secret": {testPassword}})
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed attempts") {
		t.Errorf("the right password after %d failures: %d", maxFailures, r.status)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		if got := safeNext(next); got != "" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
	if got := safeNext("/drafts/3"); got != "/drafts/3" {
		t.Errorf("safeNext(/drafts/3) = %q", got)
	}
}

// With no password, the one-time token logs in once.
func TestOneTimeToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	token := f.srv.NewLoginToken()
	c := newClient(t, f)
	form := c.get("/login?token=" + token)
	mustContain(t, "login page", form.body, "One-time login code", `value="`+token+`"`)
	r := c.post("/login", url.Values{"csrf": {form.csrf(t)}, "secret": {token}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("token login: %d\n%s", r.status, r.body)
	}
	other := newClient(t, f)
	form = other.get("/login")
	if r := other.post("/login", url.Values{"csrf": {form.csrf(t)}, "secret": {token}}); r.status != http.StatusUnauthorized {
		t.Errorf("the token used a second time: %d", r.status)
	}
}

func TestPostWithoutCSRFTokenRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	id := f.drafts["Chen"]
	path := fmt.Sprintf("/drafts/%d/approve", id)
	for name, form := range map[string]url.Values{
		"no token":    {"version": {"1"}},
		"wrong token": {"version": {"1"}, "csrf": {randomToken()}},
	} {
		if r := c.post(path, form); r.status != http.StatusForbidden || !strings.Contains(r.body, "did not come from this page") {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	// The right token from another site's page: the Origin gives it away.
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(url.Values{"version": {"1"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if r := c.do(req); r.status != http.StatusForbidden {
		t.Errorf("a cross-origin post: %d", r.status)
	}
	if d := f.draft(t, id); d.State != outreach.DraftProposed {
		t.Fatalf("draft %s after refused posts", d.State)
	}
	if r := c.post(path, url.Values{"version": {"1"}, "csrf": {csrf}}); r.status != http.StatusSeeOther {
		t.Errorf("the same approval with the token: %d\n%s", r.status, r.body)
	}
	if d := f.draft(t, id); d.State != outreach.DraftApproved {
		t.Errorf("draft %s after approval", d.State)
	}
}

func TestSecurityHeadersAndHostCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	r := c.get("/login")
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", r.header)
	}
	// DNS rebinding: a page of evil.example whose name now points here.
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/login", nil)
	req.Host = "evil.example"
	if r := c.do(req); r.status != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host: %d", r.status)
	}
	if r := c.get("/static/style.css"); r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// Everything shown is escaped: a contact's name is data, never markup.
func TestOutputIsEscaped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	evil := `<script>alert("x")</script>`
	if _, err := f.st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "first_name", "institution"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: "x@evil.example.org",
			Addresses: []string{"x@evil.example.org"}, FirstName: evil, Institution: `"><img src=x>`}}}}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, f)
	c.login(testPassword)
	r := c.get("/contacts")
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<img src=x>") {
		t.Fatalf("unescaped contact fields on /contacts")
	}
	mustContain(t, "contacts", r.body, "&lt;script&gt;")
}

func TestApprovalIsOfOneVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	c.login(testPassword)
	id := f.drafts["Souza"]
	p := c.get(fmt.Sprintf("/drafts/%d", id))
	mustContain(t, "draft page", p.body, "The email, exactly as it will be sent", "To: ana.souza@med.example.edu",
		"The email it follows up", "Why it was proposed", "Example University Hospital", "Approve and send version 1")
	csrf := p.csrf(t)
	// Edited elsewhere (the CLI, another tab) after this page was shown.
	if _, err := f.st.EditDraft(context.Background(), id, 1, store.DraftEdit{Subject: "Re: Research in your lab"}); err != nil {
		t.Fatal(err)
	}
	r := c.post(fmt.Sprintf("/drafts/%d/approve", id), url.Values{"csrf": {csrf}, "version": {"1"}})
	if r.status != http.StatusConflict {
		t.Fatalf("stale approval: %d", r.status)
	}
	mustContain(t, "refused approval", r.body, "Not approved", "changed since", "Approve and send version 2")
	if d := f.draft(t, id); d.State != outreach.DraftProposed || d.Version != 2 {
		t.Fatalf("after a stale approval: %s version %d", d.State, d.Version)
	}
	// An edit from the stale page is refused too, and keeps what was typed.
	r = c.post(fmt.Sprintf("/drafts/%d/edit", id), url.Values{"csrf": {csrf}, "version": {"1"},
		"to": {"ana.souza@med.example.edu"}, "subject": {"Mine"}, "body": {"My own words."}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "My own words.") {
		t.Errorf("stale edit: %d", r.status)
	}
}

func TestEditThenApprove(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	id := f.drafts["Chen"]
	body := "Dear Professor Chen,\r\n\r\nA short follow-up on my email of last week.\r\n\r\nBest regards,\r\nAmaka Obi\r\n"
	r := c.post(fmt.Sprintf("/drafts/%d/edit", id), url.Values{"csrf": {csrf}, "version": {"1"},
		"to": {"chen@med.example.edu"}, "subject": {"Re: Research opportunity in your lab"}, "body": {body}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", r.status, r.body)
	}
	p := c.get(r.location)
	mustContain(t, "draft after edit", p.body, "Saved as version 2", "A short follow-up on my email")
	d := f.draft(t, id)
	if d.Version != 2 || strings.Contains(d.Body, "\r") {
		t.Fatalf("after edit: version %d, body %q", d.Version, d.Body)
	}
	if r := c.post(fmt.Sprintf("/drafts/%d/approve", id), url.Values{"csrf": {csrf}, "version": {"2"}}); r.status != http.StatusSeeOther {
		t.Fatalf("approve version 2: %d\n%s", r.status, r.body)
	}
	if d := f.draft(t, id); d.State != outreach.DraftApproved || d.ApprovedVersion == nil || *d.ApprovedVersion != 2 {
		t.Fatalf("after approval: %+v", d)
	}
	mustContain(t, "Today", c.get("/").body, "Approved version 2 of the follow-up to Wei Chen")
}

func TestRejectAndRedraft(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	r := c.post(fmt.Sprintf("/drafts/%d/redraft", f.drafts["Müller"]), url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/drafts/") ||
		r.location == fmt.Sprintf("/drafts/%d", f.drafts["Müller"]) {
		t.Fatalf("redraft: %d to %q", r.status, r.location)
	}
	mustContain(t, "new draft", c.get(r.location).body, "Here is a new draft", "Approve and send version 1")
	r = c.post(fmt.Sprintf("/drafts/%d/reject", f.drafts["Chen"]), url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("reject: %d", r.status)
	}
	mustContain(t, "Today after reject", c.get("/").body, "No follow-up to Wei Chen", "Closed by you")
	mustContain(t, "thread after reject", c.get(fmt.Sprintf("/threads/%d", f.threads["Chen"])).body,
		"Closed: you chose not to follow up")
	if st, _ := f.st.ThreadState(context.Background(), f.threads["Chen"]); st != outreach.ThreadClosedByUser {
		t.Errorf("thread after reject: %s", st)
	}
}

func TestTodayShowsRepliesAndHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	c.login(testPassword)
	p := c.get("/")
	mustContain(t, "Today", p.body, "Waiting for your approval", "Follow-up to Wei Chen", "Follow-up to Ana Souza",
		"Replies in the last 7 days", "Kenji Tanaka", "Tokyo Medical Example", "Mailbox health", "INBOX")
	th := c.get(fmt.Sprintf("/threads/%d", f.threads["Tanaka"]))
	mustContain(t, "Tanaka's thread", th.body, "Replied", "You wrote: Research opportunity in your lab",
		"Reply from tanaka@tokyo-med.example.jp", "a person&#39;s text quoting our message", "Now: Replied")
	list := c.get("/threads?state=replied")
	mustContain(t, "replied threads", list.body, "Kenji Tanaka", "1 thread")
	if strings.Contains(list.body, "Wei Chen") {
		t.Errorf("state filter shows Wei Chen among replied threads")
	}
	mustContain(t, "search", c.get("/threads?q=uniklinik").body, "Katrin Müller", "1 thread")
	mustContain(t, "settings", c.get("/settings").body, "follow_up_after_days", "7 days", "Amaka Obi")
}

func TestThreadActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	id := f.threads["Adeyemi"]
	r := c.post(fmt.Sprintf("/threads/%d/pause", id), url.Values{"csrf": {csrf}, "until": {"2026-12-01"}, "note": {"conference"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("pause: %d\n%s", r.status, r.body)
	}
	p := c.get(r.location)
	mustContain(t, "paused thread", p.body, "The thread is now: Paused", "You paused the thread until 2026-12-01", "conference")
	if r := c.post(fmt.Sprintf("/threads/%d/resume", id), url.Values{"csrf": {csrf}}); r.status != http.StatusSeeOther {
		t.Fatalf("resume: %d", r.status)
	}
	if st, _ := f.st.ThreadState(context.Background(), id); st != outreach.ThreadAwaitingReply {
		t.Errorf("after resume: %s", st)
	}
	if r := c.post(fmt.Sprintf("/threads/%d/explode", id), url.Values{"csrf": {csrf}}); r.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.status)
	}
}

// upload posts a CSV file as the contacts form does.
func (c *client) upload(csrf, name, content string, skip bool) page {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", csrf)
	if skip {
		_ = mw.WriteField("skip_invalid", "1")
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = io.WriteString(fw, content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/contacts/import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", c.base)
	return c.do(req)
}

func TestContactsUploadShowsRowErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	csv := "email,first_name,last_name,institution,timezone\n" +
		"new.person@example.edu,New,Person,Example College,America/New_York\n" +
		"not-an-email,Bad,Row,,\n" +
		"tz@example.edu,Bad,Zone,,Europe/Atlantis\n"
	r := c.upload(csrf, "faculty.csv", csv, false)
	if r.status != http.StatusBadRequest {
		t.Fatalf("upload with bad rows: %d", r.status)
	}
	mustContain(t, "refused upload", r.body, "nothing was imported", `<td data-label="Line">3</td>`, `<td data-label="Line">4</td>`, "not-an-email", "Europe/Atlantis")
	if _, err := f.st.ContactByAddress(context.Background(), "new.person@example.edu"); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Fatalf("a refused upload imported a row: %v", err)
	}
	r = c.upload(csrf, "faculty.csv", csv, true)
	if r.status != http.StatusOK {
		t.Fatalf("upload skipping bad rows: %d", r.status)
	}
	mustContain(t, "upload", r.body, "1 contact created", "2 rows skipped", "New Person")
	if r := c.upload(csrf, "empty.csv", "", false); r.status != http.StatusBadRequest || !strings.Contains(r.body, "header row") {
		t.Errorf("empty file: %d", r.status)
	}
}

func TestEditAndBlockContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := newClient(t, f)
	csrf := c.login(testPassword)
	ctx := context.Background()
	chen, _ := f.st.ContactByAddress(ctx, "chen@med.example.edu")
	path := fmt.Sprintf("/contacts/%d", chen.ID)
	mustContain(t, "contact page", c.get(path).body, "Addresses and time zone", "America/Chicago")
	for name, tc := range map[string]struct {
		addresses, tz string
		status        int
		want          string
	}{
		"bad zone":         {"chen@med.example.edu", "Mars/Olympus", http.StatusBadRequest, "not a time zone"},
		"someone else's":   {"chen@med.example.edu\nana.souza@med.example.edu", "", http.StatusConflict, "already an address of contact"},
		"the draft's To":   {"wchen@gmail.example.com", "", http.StatusConflict, "change its To first"},
		"no address":       {"  \n", "", http.StatusBadRequest, "at least one address"},
		"not an address":   {"chen at med", "", http.StatusBadRequest, "is not an email address"},
		"add one, move tz": {"chen@med.example.edu\nwchen@gmail.example.com", "America/New_York", http.StatusSeeOther, ""},
	} {
		r := c.post(path, url.Values{"csrf": {csrf}, "addresses": {tc.addresses}, "timezone": {tc.tz}})
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d, want %d with %q", name, r.status, tc.status, tc.want)
		}
	}
	chen, _ = f.st.ContactByAddress(ctx, "wchen@gmail.example.com")
	if chen.Timezone != "America/New_York" || len(chen.Addresses) != 2 || chen.Email != "chen@med.example.edu" {
		t.Fatalf("after edit: %+v", chen)
	}
	if r := c.post(path+"/block", url.Values{"csrf": {csrf}, "reason": {"asked not to be contacted"}}); r.status != http.StatusSeeOther {
		t.Fatalf("block: %d", r.status)
	}
	if d := f.draft(t, f.drafts["Chen"]); d.State != outreach.DraftSuperseded {
		t.Errorf("draft after block: %s", d.State)
	}
	mustContain(t, "blocked contact", c.get(path).body, "Blocked on", "asked not to be contacted")
}

func TestServeShutsDownOnCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := f.srv.ListenAndServe(context.Background(), "0.0.0.0:0"); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Errorf("a non-loopback address without allow_remote: %v", err)
	}
}

// A draft in review (its send may have gone out) is settled from its page:
// "It was sent" counts the thread's one follow-up; settling twice is
// refused with the reason.
func TestSettleReviewDraft(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	id := f.drafts["Chen"]
	if err := f.st.ApproveDraft(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	// approved -> sending -> review, as a sender that never heard back
	// from the server leaves it (the database checks each transition).
	if _, err := f.st.DB().Exec(`UPDATE drafts SET state = 'sending', sending_at = $2, raw_message = 'From: x'
		WHERE id = $1`, id, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().Exec(`UPDATE drafts SET state = 'review', last_error = 'no answer to the end of DATA'
		WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, f)
	csrf := c.login(testPassword)
	path := fmt.Sprintf("/drafts/%d", id)
	p := c.get(path)
	mustContain(t, "draft in review", p.body, "Did it go out?", "It was sent", "It was not sent")
	if strings.Contains(p.body, "Approve and send") {
		t.Error("a draft in review offers approval")
	}
	if r := c.post(path+"/settle", url.Values{"csrf": {csrf}, "outcome": {"maybe"}}); r.status != http.StatusBadRequest {
		t.Errorf("outcome maybe: %d, want 400", r.status)
	}
	r := c.post(path+"/settle", url.Values{"csrf": {csrf}, "outcome": {"sent"}})
	if r.status != http.StatusSeeOther || r.location != fmt.Sprintf("/threads/%d", f.threads["Chen"]) {
		t.Fatalf("settle: %d to %q", r.status, r.location)
	}
	mustContain(t, "thread after settling", c.get(r.location).body, "went out. It counts as the one follow-up")
	var state string
	var followups int
	if err := f.st.DB().QueryRow(`SELECT d.state, t.followups_sent FROM drafts d JOIN threads t ON t.id = d.thread_id
		WHERE d.id = $1`, id).Scan(&state, &followups); err != nil {
		t.Fatal(err)
	}
	if state != "sent" || followups != 1 {
		t.Fatalf("after settling as sent: draft %s, %d follow-ups", state, followups)
	}
	r = c.post(path+"/settle", url.Values{"csrf": {csrf}, "outcome": {"not-sent"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Nothing changed") {
		t.Fatalf("settling again: %d\n%s", r.status, r.body)
	}
}
