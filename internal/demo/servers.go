package demo

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Password logs in to the demo's IMAP and SMTP servers, as the applicant.
const Password = "demo"

// mailServer is go-imap's in-memory IMAP server on a loopback port, with
// the applicant's INBOX and Sent (found by name: the memory server keeps
// no special-use attributes).
type mailServer struct {
	srv  *imapserver.Server
	user *imapmemserver.User
	addr *net.TCPAddr
}

func startIMAP() (*mailServer, error) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(Applicant.Email, Password)
	for _, name := range []string{"INBOX", "Sent"} {
		if err := user.Create(name, nil); err != nil {
			return nil, fmt.Errorf("imap: create %s: %w", name, err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapListExtended: {}},
		InsecureAuth: true, // loopback only
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	go func() { _ = srv.Serve(ln) }()
	return &mailServer{srv: srv, user: user, addr: ln.Addr().(*net.TCPAddr)}, nil
}

// put appends the story's messages, read, with their dates as internal
// dates (RFC 3501 section 6.3.11), as a mail client would have filed them.
func (s *mailServer) put(mail []Mail) error {
	for _, m := range mail {
		opts := &imap.AppendOptions{Time: m.Date, Flags: []imap.Flag{imap.FlagSeen}}
		if _, err := s.user.Append(m.Mailbox, bytes.NewReader(m.Raw), opts); err != nil {
			return fmt.Errorf("imap: append to %s: %w", m.Mailbox, err)
		}
	}
	return nil
}

func (s *mailServer) close() { _ = s.srv.Close() }

// Caught is one message the SMTP catcher took.
type Caught struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// catcher is an SMTP server (go-smtp) on a loopback port that accepts
// every message from the applicant, with AUTH PLAIN (RFC 4616), and
// delivers none: what outreach sends in the demo stops here.
type catcher struct {
	srv     *smtp.Server
	addr    *net.TCPAddr
	mu      sync.Mutex
	caught  []Caught
	onCatch func(Caught)
}

func startSMTP(onCatch func(Caught)) (*catcher, error) {
	c := &catcher{onCatch: onCatch}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &catchSession{c: c}, nil }))
	srv.Domain = "smtp.demo.invalid"
	srv.AllowInsecureAuth = true // loopback only
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	c.srv, c.addr = srv, ln.Addr().(*net.TCPAddr)
	go func() { _ = srv.Serve(ln) }()
	return c, nil
}

func (c *catcher) record(m Caught) {
	c.mu.Lock()
	c.caught = append(c.caught, m)
	c.mu.Unlock()
	if c.onCatch != nil {
		c.onCatch(m)
	}
}

// messages returns what was caught so far.
func (c *catcher) messages() []Caught {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Caught(nil), c.caught...)
}

func (c *catcher) close() { _ = c.srv.Close() }

// catchSession is one SMTP connection.
type catchSession struct {
	c    *catcher
	auth bool
	msg  Caught
}

var _ smtp.AuthSession = (*catchSession)(nil)

func (s *catchSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *catchSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != Applicant.Email || pass != Password {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

func (s *catchSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	s.msg = Caught{From: from}
	return nil
}

func (s *catchSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *catchSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.msg
	m.Data, m.At = data, time.Now()
	s.c.record(m)
	return nil
}

func (s *catchSession) Reset()        { s.msg = Caught{} }
func (s *catchSession) Logout() error { return nil }
