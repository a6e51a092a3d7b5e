// Package web is the local approval page: the follow-up drafts waiting for
// the applicant, the threads and their history, contacts and the policy in
// effect. It is server-rendered (html/template, the standard library's
// ServeMux, a small stylesheet, no JavaScript) and changes state only
// through package store and the planner, so the CLI, the daemon and the
// page agree. It never sends mail and never talks IMAP; every change needs
// a session and a CSRF token.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/templates"
)

//go:embed templates/*.html static/*
var assets embed.FS

// DefaultListen is where the page answers unless configured otherwise.
const DefaultListen = "127.0.0.1:8025"

// Config is what the page needs; Store and Planner are required.
type Config struct {
	Store   *store.Store
	Planner *daemon.Planner // approvals re-decide the thread, as the CLI's do
	Policy  outreach.Policy // the [policy] in effect, for Settings and send windows
	Profile templates.Profile
	// FollowUpTemplate names the template follow-ups are written with.
	FollowUpTemplate string
	// AllowRemote answers requests for any host name; otherwise only
	// loopback names are served, which also defeats DNS rebinding.
	AllowRemote bool
	// SessionTTL is how long a login lasts [14 days].
	SessionTTL time.Duration
	// Location shows times in the applicant's zone [time.Local].
	Location *time.Location
	// Now is the clock [time.Now]; tests freeze it.
	Now func() time.Time
	Log *slog.Logger
	// Mount serves more handlers as they are, without a login, such as
	// "GET /metrics" and "GET /healthz" of the daemon (still loopback only
	// unless AllowRemote).
	Mount map[string]http.Handler
}

// Server is the web page as an http.Handler.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*pageTemplate
	login *loginGate
}

// New checks the configuration and builds the page.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Planner == nil {
		return nil, errors.New("web: Store and Planner are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 14 * 24 * time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), login: newLoginGate()}
	pages, err := s.parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheable(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.loginSubmit)
	s.mux.Handle("POST /logout", s.app(s.logout))
	s.mux.Handle("GET /{$}", s.app(s.today))
	s.mux.Handle("GET /drafts/{id}", s.app(s.draft))
	s.mux.Handle("POST /drafts/{id}/approve", s.app(s.approveDraft))
	s.mux.Handle("POST /drafts/{id}/reject", s.app(s.rejectDraft))
	s.mux.Handle("POST /drafts/{id}/redraft", s.app(s.redraftDraft))
	s.mux.Handle("POST /drafts/{id}/edit", s.app(s.editDraft))
	s.mux.Handle("POST /drafts/{id}/settle", s.app(s.settleDraft))
	s.mux.Handle("GET /threads", s.app(s.threads))
	s.mux.Handle("GET /threads/{id}", s.app(s.thread))
	s.mux.Handle("POST /threads/{id}/{action}", s.app(s.threadAction))
	s.mux.Handle("GET /contacts", s.app(s.contacts))
	s.mux.Handle("POST /contacts/import", s.app(s.importContacts))
	s.mux.Handle("GET /contacts/{id}", s.app(s.contact))
	s.mux.Handle("POST /contacts/{id}", s.app(s.editContact))
	s.mux.Handle("POST /contacts/{id}/block", s.app(s.blockContact))
	s.mux.Handle("GET /settings", s.app(s.settings))
	for pattern, h := range s.cfg.Mount {
		s.mux.Handle(pattern, h)
	}
}

// ServeHTTP applies the headers every answer carries, refuses foreign host
// names, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script at all, styles and images only from here, forms only to
	// here, never framed: an injected tag can neither run nor leak.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on form posts, and the Origin check would refuse ours.
	h.Set("Referrer-Policy", "same-origin")
	if !s.cfg.AllowRemote && !loopbackHost(r.Host) {
		http.Error(w, "This page answers only on localhost (set [web] allow_remote to change that).", http.StatusMisdirectedRequest)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return IsLoopback(strings.Trim(host, "[]"))
}

// IsLoopback reports whether host is "localhost" or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ListenAndServe listens on addr and serves until ctx ends. An address
// that is not loopback is refused unless AllowRemote is set.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return outreach.Errorf(outreach.KindInvalid, "web listen address %q: %w", addr, err)
	}
	if !IsLoopback(host) && !s.cfg.AllowRemote {
		return outreach.Errorf(outreach.KindInvalid,
			"web listen address %q is not loopback: set [web] allow_remote = true to serve other machines", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return outreach.Errorf(outreach.KindUnavailable, "web: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers on ln until ctx ends, then shuts down gracefully: requests
// in flight get a few seconds to finish. It logs the address, and the
// one-time login link when no password is set.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn)}
	base := "http://" + ln.Addr().String()
	s.cfg.Log.Info("web page listening", "url", base+"/")
	if err := s.announceToken(ctx, base); err != nil {
		ln.Close()
		return err
	}
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() { errc <- srv.Serve(ln) })
	select {
	case err := <-errc:
		return fmt.Errorf("web: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("web: shut down: %w", err)
	}
	return nil
}
