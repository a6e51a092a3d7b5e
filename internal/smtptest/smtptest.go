// Package smtptest runs an SMTP submission server inside a test process
// (emersion/go-smtp on 127.0.0.1:0). It records every message it receives
// in full, authenticates with AUTH PLAIN (RFC 4616) or LOGIN, speaks
// implicit TLS or STARTTLS (RFC 3207) with a throwaway certificate, and
// lets a test refuse, drop or stall the transaction at any stage through a
// Hook, which is how tests put a crash at a chosen point of a send.
//
// It delivers nothing anywhere; it is for tests only.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/outreach/outreach/internal/testcert"
)

// User and Password log in to a server started with default Options.
const (
	User     = "applicant@example.org"
	Password = "smtp-secret"
)

// Stage is a point of the SMTP transaction (RFC 5321 section 3.3) at
// which a Hook is asked for the reply.
type Stage string

// The stages a Hook sees. StageData comes after the whole message has
// been read and recorded, before the reply to the end of DATA: a Hook that
// blocks there holds a message the server has taken, not yet confirmed.
const (
	StageMail Stage = "MAIL"
	StageRcpt Stage = "RCPT"
	StageData Stage = "DATA"
)

// ErrDrop, returned by a Hook, closes the connection without a reply.
var ErrDrop = errors.New("smtptest: connection dropped")

// Hook decides the reply at one stage: nil accepts; an *smtp.SMTPError is
// sent as the reply (4xx temporary, 5xx permanent); ErrDrop drops the
// connection. It may block, to stall the client at that point.
type Hook func(stage Stage, m Message) error

// Message is one transaction as the server saw it.
type Message struct {
	From string
	To   []string
	Data []byte // the message as received (dot-stuffing undone)
	User string // who authenticated
	// Reply is the code the server answered to the end of DATA: 250 when
	// it accepted the message, 0 while the Hook holds it or when it
	// dropped the connection.
	Reply int
}

// Options configure Start; the zero value is a plaintext server with
// PLAIN and LOGIN for User and Password.
type Options struct {
	Username, Password string   // defaults: User and Password
	Mechanisms         []string // advertised SASL mechanisms; default PLAIN and LOGIN
	// TLS, when set, is the server's TLS configuration (see Certificate):
	// offered with STARTTLS, or required from the first byte with Implicit.
	TLS      *tls.Config
	Implicit bool
	Hook     Hook
}

// Server is a running test server.
type Server struct {
	Host string
	Port int

	opts     Options
	mu       sync.Mutex
	msgs     []*Message
	received chan struct{} // signalled (never blocking) when a message is recorded
}

// Start listens on a free loopback port and serves until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = User, Password
	}
	if len(opts.Mechanisms) == 0 {
		opts.Mechanisms = []string{sasl.Plain, sasl.Login}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS != nil && opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	}
	s := &Server{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, opts: opts, received: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "smtp.test"
	srv.AllowInsecureAuth = opts.TLS == nil
	if !opts.Implicit {
		srv.TLSConfig = opts.TLS
	}
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = discardLog{}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Messages returns every transaction that reached the end of DATA, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
		out[i].To = append([]string(nil), m.To...)
	}
	return out
}

// Wait waits until n messages were received, or fails the test after within.
func (s *Server) Wait(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.received:
		case <-deadline.C:
			t.Fatalf("smtptest: %d messages received within %s, want %d", len(s.Messages()), within, n)
		}
	}
}

func (s *Server) record(m *Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.received <- struct{}{}:
	default:
	}
}

func (s *Server) setReply(m *Message, code int) {
	s.mu.Lock()
	m.Reply = code
	s.mu.Unlock()
}

// session is one client connection; go-smtp calls it from one goroutine.
type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	msg  Message
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return s.srv.opts.Mechanisms }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.srv.opts.Username || pass != s.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = Message{From: from, User: s.user}
	return s.hook(StageMail, s.msg)
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return s.hook(StageRcpt, s.msg)
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.msg
	m.Data = data
	s.srv.record(&m)
	if err := s.hook(StageData, m); err != nil {
		if e, ok := err.(*smtp.SMTPError); ok {
			s.srv.setReply(&m, e.Code)
		}
		return err
	}
	s.srv.setReply(&m, 250)
	return nil
}

// hook asks the test's Hook; ErrDrop closes the connection at once, so
// the reply that go-smtp then writes goes nowhere.
func (s *session) hook(stage Stage, m Message) error {
	if s.srv.opts.Hook == nil {
		return nil
	}
	err := s.srv.opts.Hook(stage, m)
	if errors.Is(err, ErrDrop) {
		_ = s.conn.Conn().Close()
	}
	return err
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism (draft-murchison-
// sasl-login): prompts for the user name, then the password, base64 on the
// wire (go-smtp does the encoding).
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil { // an initial response carries the user name
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// Certificate makes a throwaway certificate for 127.0.0.1 and localhost: a
// server configuration, and a client configuration that trusts it.
func Certificate(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	c := testcert.New(t, "smtptest")
	return c.Server, c.Client
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}
