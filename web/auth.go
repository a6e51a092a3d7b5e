package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// LoginName is the page's one login: the applicant.
const LoginName = "applicant"

const (
	sessionCookie = "outreach_session"
	loginCookie   = "outreach_login" // the login form's CSRF token, before there is a session
	// visitGap is the pause after which the next request starts a new
	// visit, and the replies seen in the last one stop being new.
	visitGap = 30 * time.Minute
	// maxFailures failed logins within failureWindow lock the form for the
	// rest of the window: bcrypt is slow, but not slow enough alone.
	maxFailures   = 10
	failureWindow = 10 * time.Minute
	maxPostBytes  = 8 << 20 // a contacts CSV of tens of thousands of rows
	minPassword   = 8
)

// HashPassword makes the bcrypt hash `outreach web passwd` stores.
func HashPassword(password string) (string, error) {
	if len(password) < minPassword {
		return "", outreach.Errorf(outreach.KindInvalid, "the password needs at least %d characters", minPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", outreach.Errorf(outreach.KindInvalid, "the password is longer than bcrypt's 72 bytes")
	}
	return string(h), err
}

// loginGate holds what lives only in this process: the one-time login
// token (when no password is set) and recent failed attempts.
type loginGate struct {
	mu        sync.Mutex
	tokenHash []byte // SHA-256 of the current one-time token; nil when none
	base      string // the page's address, for the login link in the log
	failures  []time.Time
}

func newLoginGate() *loginGate { return &loginGate{} }

// session is a logged-in request's session and its visit.
type session struct {
	store.WebSession
	// Since is when the applicant's previous visit ended; nil on the first.
	Since *time.Time
}

// NewLoginToken makes a fresh one-time login token, valid until used or
// replaced, and only while no password is set. Serve logs it as a link.
func (s *Server) NewLoginToken() string {
	token := randomToken()
	sum := sha256.Sum256([]byte(token))
	s.login.mu.Lock()
	s.login.tokenHash = sum[:]
	s.login.mu.Unlock()
	return token
}

// announceToken logs a one-time login link when no password is set.
func (s *Server) announceToken(ctx context.Context, base string) error {
	s.login.mu.Lock()
	s.login.base = base
	s.login.mu.Unlock()
	hash, err := s.passwordHash(ctx)
	if err != nil || hash != "" {
		return err
	}
	s.logToken(s.NewLoginToken())
	return nil
}

func (s *Server) logToken(token string) {
	s.login.mu.Lock()
	base := s.login.base
	s.login.mu.Unlock()
	if base == "" {
		return
	}
	s.cfg.Log.Warn(`no web password is set (set one with "outreach web passwd"): log in once with this link`,
		"link", base+"/login?token="+url.QueryEscape(token))
}

// passwordHash is the applicant's bcrypt hash, or "" when none is set.
func (s *Server) passwordHash(ctx context.Context) (string, error) {
	l, err := s.cfg.Store.WebLoginByName(ctx, LoginName)
	if outreach.IsKind(err, outreach.KindNotFound) {
		return "", nil
	}
	return l.PasswordHash, err
}

// checkSecret checks a password against the hash, or, with no password
// set, the one-time token, which it uses up.
func (s *Server) checkSecret(hash, secret string) bool {
	if hash != "" {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
	}
	sum := sha256.Sum256([]byte(secret))
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	if s.login.tokenHash == nil || subtle.ConstantTimeCompare(sum[:], s.login.tokenHash) != 1 {
		return false
	}
	s.login.tokenHash = nil
	return true
}

// locked reports whether too many logins failed lately.
func (g *loginGate) locked(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	recent := g.failures[:0]
	for _, t := range g.failures {
		if now.Sub(t) < failureWindow {
			recent = append(recent, t)
		}
	}
	g.failures = recent
	return len(recent) >= maxFailures
}

func (g *loginGate) fail(now time.Time) {
	g.mu.Lock()
	g.failures = append(g.failures, now)
	g.mu.Unlock()
}

// loginView is the login form.
type loginView struct {
	HasPassword bool
	Token       string // from the one-time link, filled in for the applicant
	Next        string
	Error       string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	hash, err := s.passwordHash(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	v := loginView{HasPassword: hash != "", Next: safeNext(r.URL.Query().Get("next"))}
	if !v.HasPassword {
		v.Token = r.URL.Query().Get("token")
	}
	s.renderLogin(w, r, http.StatusOK, v)
}

// renderLogin shows the form with a fresh login CSRF token: a random value
// in a cookie and in the form, which a page elsewhere can read neither of.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	w.Header().Set("Cache-Control", "no-store")
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
	s.render(w, r, nil, status, "login", "Log in", v, token)
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, outreach.Errorf(outreach.KindInvalid, "the login form could not be read: %w", err))
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(c.Value, r.PostFormValue("csrf")) || !s.sameOrigin(r) {
		s.refuse(w, r, nil, "The login form expired or did not come from this page. Reload it and try again.")
		return
	}
	hash, err := s.passwordHash(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	v := loginView{HasPassword: hash != "", Next: safeNext(r.PostFormValue("next"))}
	now := s.cfg.Now()
	if s.login.locked(now) {
		v.Error = "Too many failed attempts: wait ten minutes, then try again."
		s.renderLogin(w, r, http.StatusTooManyRequests, v)
		return
	}
	if !s.checkSecret(hash, r.PostFormValue("secret")) {
		s.login.fail(now)
		v.Error = "That password is not right."
		if !v.HasPassword {
			v.Error = "That login code is not right, or it was used already: use the newest link in the log."
		}
		s.renderLogin(w, r, http.StatusUnauthorized, v)
		return
	}
	if err := s.startSession(w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if hash == "" {
		// The token is used up: the log gets a new one for the next browser.
		s.logToken(s.NewLoginToken())
	}
	http.Redirect(w, r, orHome(v.Next), http.StatusSeeOther)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request) error {
	id := randomToken()
	now := s.cfg.Now()
	sess := store.WebSession{IDHash: hashID(id), Login: LoginName, CSRFToken: randomToken(),
		ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.cfg.Store.StartWebSession(r.Context(), sess); err != nil {
		return err
	}
	// MaxAge, not Expires: the browser's clock decides, not ours.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(s.cfg.SessionTTL.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := s.cfg.Store.EndWebSession(r.Context(), sess.IDHash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// appHandler is a page that needs a logged-in applicant.
type appHandler func(w http.ResponseWriter, r *http.Request, sess *session) error

// app checks the session (and on a POST the CSRF token and the Origin)
// before h runs, and turns h's error into a page with the right status.
func (s *Server) app(h appHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, err := s.session(r)
		switch {
		case outreach.IsKind(err, outreach.KindNotFound) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case outreach.IsKind(err, outreach.KindNotFound):
			s.refuse(w, r, nil, "You are not logged in, or your session ended: log in, then try again.")
			return
		case err != nil:
			s.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if problem := s.checkPost(w, r, sess); problem != "" {
				s.refuse(w, r, sess, problem)
				return
			}
		}
		if err := h(w, r, sess); err != nil {
			s.fail(w, r, sess, err)
		}
	})
}

// session finds the request's session; NotFound when there is none.
func (s *Server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, outreach.Errorf(outreach.KindNotFound, "no session")
	}
	ws, err := s.cfg.Store.WebSessionByHash(r.Context(), hashID(c.Value))
	if err != nil {
		return nil, err
	}
	sess := &session{WebSession: ws}
	if r.Method == http.MethodGet {
		if sess.Since, err = s.cfg.Store.WebVisit(r.Context(), ws.Login, visitGap); err != nil {
			return nil, err
		}
	}
	return sess, nil
}

// checkPost reads the form (bounded) and checks its CSRF token and
// Origin; it returns what is wrong for the applicant to read, or "".
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request, sess *session) string {
	r.Body = http.MaxBytesReader(w, r.Body, maxPostBytes)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxPostBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return "The form could not be read (is the file larger than 8 MB?)."
	}
	if !sameToken(sess.CSRFToken, r.PostFormValue("csrf")) || !s.sameOrigin(r) {
		return "This form expired or did not come from this page: reload the page and try again. Nothing was changed."
	}
	return ""
}

// sameOrigin: a browser names the page a form was posted from; it must be
// this one. A request without Origin (not a browser) relies on the token.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// safeNext keeps a post-login destination on this site: a path, never
// "//host" or a URL, so the login form cannot redirect elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	return next
}

func orHome(next string) string {
	if next == "" {
		return "/"
	}
	return next
}
