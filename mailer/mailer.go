// Package mailer owns everything SMTP for Outreach (go-mail): it builds the
// follow-up's MIME message with our own Message-ID and the threading
// headers, submits it (RFC 6409, over RFC 5321) with TLS or STARTTLS and
// AUTH PLAIN or LOGIN, and sorts every outcome into accepted, temporary,
// permanent or ambiguous.
//
// It stores nothing and decides nothing about whether a message may go out:
// the caller has recorded that it is about to send (and what) before it
// calls Send, and records the Result after. Send is never interrupted by a
// context: cutting a transaction short at the end of DATA would make its
// outcome unknowable, so it ends by itself, within the timeouts.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Default timeouts used when Server leaves them zero.
const (
	// DefaultTimeout bounds the connection (TCP, TLS, greeting, EHLO,
	// STARTTLS, AUTH) and then each command.
	DefaultTimeout = time.Minute
	// DefaultDataTimeout bounds the wait for the reply to the end of DATA:
	// RFC 5321 section 4.5.3.2.6 asks clients to wait 10 minutes, as the
	// server may be filtering the message.
	DefaultDataTimeout = 10 * time.Minute
)

// Server is how to reach one SMTP submission server. Password is resolved.
type Server struct {
	Host     string
	Port     int
	Security string // "tls" (implicit TLS, RFC 8314), "starttls" (RFC 3207) or "none"
	Username string
	Password string
	// TLSConfig: nil means the system roots, ServerName = Host.
	TLSConfig   *tls.Config
	Timeout     time.Duration // 0: DefaultTimeout
	DataTimeout time.Duration // 0: DefaultDataTimeout
	// HELO is the name given in EHLO; "" means the machine's host name.
	HELO string
}

// Outcome sorts what became of one submission.
type Outcome string

// The outcomes of Send. Only Accepted means the server took the message;
// only Ambiguous leaves that unknown.
const (
	Accepted  Outcome = "accepted"  // 2xx to the end of DATA: the server has it
	Temporary Outcome = "temporary" // 4xx, or the connection failed before the end of DATA: not sent
	Permanent Outcome = "permanent" // 5xx: not sent, and would be refused again as it is
	// Ambiguous: the end of DATA was sent and no reply came (a dropped
	// connection, a timeout). The server may have accepted the message.
	Ambiguous Outcome = "ambiguous"
)

// Result is the outcome of one Send, with the server's words.
type Result struct {
	Outcome  Outcome
	Stage    string // where it ended: MAIL, RCPT, DATA, message or end of DATA
	Code     int    // the reply code; 0 when no reply came
	Enhanced string // RFC 3463 enhanced status code, when the reply had one
	Reply    string // the server's reply text (for Accepted, its queue id and such)
	Err      error  // nil when Accepted
}

// String is the result in one line: the code and the server's text, or
// the local error.
func (r Result) String() string {
	switch {
	case r.Code != 0:
		return fmt.Sprintf("%d %s", r.Code, r.Reply)
	case r.Err != nil:
		return r.Err.Error()
	}
	return string(r.Outcome)
}

// DialError is a connection or login that failed before any transaction:
// nothing was sent. Refused is true when the server said no (a 5xx, such
// as 535 to AUTH: wrong credentials), which retrying will not change.
type DialError struct {
	Refused bool
	Err     error
}

func (e *DialError) Error() string { return e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// Session is one connected, authenticated SMTP session. It is not safe for
// concurrent use.
type Session struct {
	client      *smtp.Client
	timeout     time.Duration
	dataTimeout time.Duration
	broken      bool // the connection failed: Close does not wait for a QUIT reply
}

// Dial connects, secures the connection as configured (implicit TLS, or
// STARTTLS that must succeed), says EHLO and authenticates with AUTH PLAIN
// (RFC 4616) or else LOGIN, within Timeout. Without TLS ("none", allowed
// by the configuration for loopback or explicitly) the same mechanisms are
// used in the clear.
func Dial(ctx context.Context, srv Server) (*Session, error) {
	srv = srv.withDefaults()
	c, err := gomail.NewClient(srv.Host, srv.options()...)
	if err != nil {
		return nil, &DialError{Err: fmt.Errorf("smtp %s: %w", srv.address(), err)}
	}
	client, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, &DialError{Refused: replyCode(err)/100 == 5,
			Err: fmt.Errorf("smtp %s as %q: %w", srv.address(), srv.Username, err)}
	}
	return &Session{client: client, timeout: srv.Timeout, dataTimeout: srv.DataTimeout}, nil
}

func (srv Server) withDefaults() Server {
	if srv.Timeout <= 0 {
		srv.Timeout = DefaultTimeout
	}
	if srv.DataTimeout <= 0 {
		srv.DataTimeout = DefaultDataTimeout
	}
	return srv
}

func (srv Server) address() string { return net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)) }

// options are the go-mail client options for the server.
func (srv Server) options() []gomail.Option {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if srv.TLSConfig != nil {
		cfg = srv.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = srv.Host
	}
	opts := []gomail.Option{gomail.WithPort(srv.Port), gomail.WithTimeout(srv.Timeout),
		gomail.WithTLSConfig(cfg), gomail.WithUsername(srv.Username), gomail.WithPassword(srv.Password)}
	if srv.HELO != "" {
		opts = append(opts, gomail.WithHELO(srv.HELO))
	}
	switch srv.Security {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if srv.Security == "none" {
		// The configuration allowed clear text (loopback, or allow_insecure).
		return append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
	}
	return append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
}

// Send runs one mail transaction (RFC 5321 section 3.3): MAIL FROM, RCPT
// TO, DATA, the message exactly as given, and the end of DATA. Each
// command has Timeout; the reply to the end of DATA has DataTimeout.
func (s *Session) Send(from, to string, msg []byte) Result {
	res := s.send(from, to, msg)
	s.broken = res.Outcome != Accepted && res.Code == 0
	return res
}

func (s *Session) send(from, to string, msg []byte) Result {
	ascii := isASCII(from) && isASCII(to)
	s.client.SkipSMTPUTF8(ascii) // RFC 6531: only for internationalised addresses
	if err := s.step(func() error { return s.client.Mail(from) }); err != nil {
		return before("MAIL", err)
	}
	if err := s.step(func() error { return s.client.Rcpt(to) }); err != nil {
		return before("RCPT", err)
	}
	var w io.WriteCloser
	if err := s.step(func() (err error) { w, err = s.client.Data(); return err }); err != nil {
		return before("DATA", err)
	}
	if err := s.step(func() error { _, err := w.Write(msg); return err }); err != nil {
		// The dot writer buffers: the end-of-data line was not sent, so the
		// server cannot have taken the message.
		return before("message", err)
	}
	if err := s.client.UpdateDeadline(s.dataTimeout); err != nil {
		return before("message", err)
	}
	err := w.Close() // writes the final "." line and reads the reply
	return endOfData(err, serverResponse(w))
}

// Close ends the session with QUIT (RFC 5321 section 4.1.1.10). Its
// failure changes nothing about messages already sent.
func (s *Session) Close() error {
	if s.broken {
		return s.client.Close()
	}
	_ = s.client.UpdateDeadline(s.timeout)
	if err := s.client.Quit(); err != nil {
		_ = s.client.Close()
		return fmt.Errorf("smtp QUIT: %w", err)
	}
	return nil
}

// step runs one command with a fresh deadline.
func (s *Session) step(fn func() error) error {
	if err := s.client.UpdateDeadline(s.timeout); err != nil {
		return err
	}
	return fn()
}

// before sorts a failure before the end of DATA: nothing was delivered. A
// 5xx is permanent (a refused sender or recipient); anything else (4xx, a
// network failure, a timeout) is temporary.
func before(stage string, err error) Result {
	r := Result{Stage: stage, Err: fmt.Errorf("smtp %s: %w", stage, err), Outcome: Temporary}
	r.Code, r.Reply = reply(err)
	r.Enhanced = enhanced(r.Reply)
	if r.Code/100 == 5 {
		r.Outcome = Permanent
	}
	return r
}

// endOfData sorts the reply to the end of DATA: the one point where a lost
// reply leaves the outcome unknown.
func endOfData(err error, response string) Result {
	r := Result{Stage: "end of DATA"}
	if err == nil {
		r.Outcome, r.Code, r.Reply = Accepted, 250, response
		r.Enhanced = enhanced(response)
		return r
	}
	r.Code, r.Reply = reply(err)
	r.Enhanced = enhanced(r.Reply)
	r.Err = fmt.Errorf("smtp end of DATA: %w", err)
	switch r.Code / 100 {
	case 2: // another 2xx than the 250 expected: still accepted
		r.Outcome, r.Err = Accepted, nil
	case 4:
		r.Outcome = Temporary
	case 5:
		r.Outcome = Permanent
	default:
		r.Outcome = Ambiguous
	}
	return r
}

// reply extracts the server's reply from an error: its code and text, or
// 0 and "" when no reply came (a network failure, a timeout).
func reply(err error) (int, string) {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg
	}
	return 0, ""
}

func replyCode(err error) int {
	code, _ := reply(err)
	return code
}

var enhancedCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\b`)

// enhanced is the RFC 3463 status code at the start of a reply text.
func enhanced(text string) string { return enhancedCode.FindString(text) }

func serverResponse(w io.WriteCloser) string {
	if dc, ok := w.(*smtp.DataCloser); ok {
		return dc.ServerResponse()
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
