package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/outreach/outreach/internal/smtptest"
)

func server(s *smtptest.Server, security string, tlsCfg *tls.Config) Server {
	return Server{Host: s.Host, Port: s.Port, Security: security, Username: smtptest.User, Password: smtptest.Password,
		TLSConfig: tlsCfg, Timeout: 5 * time.Second, DataTimeout: 5 * time.Second, HELO: "client.test"}
}

func send(t *testing.T, srv Server, raw []byte) Result {
	t.Helper()
	sess, err := Dial(context.Background(), srv)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	return sess.Send(smtptest.User, "chen@med.example.edu", raw)
}

// What the server received is the message given, byte for byte (a line
// starting with "." survives dot-stuffing), from the applicant to the
// recipient, after AUTH.
func TestSendDeliversTheExactMessage(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.Options{})
	m := followUp()
	m.Body = ".leading dot\n" + m.Body
	raw, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	res := send(t, server(s, "none", nil), raw)
	if res.Outcome != Accepted || res.Code != 250 || res.Err != nil {
		t.Fatalf("result %+v, want accepted", res)
	}
	got := s.Wait(t, 1, 5*time.Second)[0]
	if !bytes.Equal(got.Data, raw) || got.From != smtptest.User || len(got.To) != 1 ||
		got.To[0] != "chen@med.example.edu" || got.User != smtptest.User || got.Reply != 250 {
		t.Fatalf("received %+v\n%s\nwant\n%s", got, got.Data, raw)
	}
}

// Each failure is sorted by where it happened and what the server said:
// only a lost reply to the end of DATA is ambiguous.
func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	tempFail := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	permFail := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	for _, c := range []struct {
		name     string
		stage    smtptest.Stage
		err      error
		want     Outcome
		code     int
		enhanced string
		received int
	}{
		{"4xx to MAIL", smtptest.StageMail, tempFail, Temporary, 451, "4.3.0", 0},
		{"5xx to RCPT", smtptest.StageRcpt, permFail, Permanent, 550, "5.1.1", 0},
		{"4xx to the end of DATA", smtptest.StageData, tempFail, Temporary, 451, "4.3.0", 1},
		{"5xx to the end of DATA", smtptest.StageData, permFail, Permanent, 550, "5.1.1", 1},
		{"connection dropped at RCPT", smtptest.StageRcpt, smtptest.ErrDrop, Temporary, 0, "", 0},
		{"connection dropped after the end of DATA", smtptest.StageData, smtptest.ErrDrop, Ambiguous, 0, "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := smtptest.Start(t, smtptest.Options{Hook: func(st smtptest.Stage, _ smtptest.Message) error {
				if st == c.stage {
					return c.err
				}
				return nil
			}})
			raw, _ := Build(followUp())
			res := send(t, server(s, "none", nil), raw)
			if res.Outcome != c.want || res.Code != c.code || res.Enhanced != c.enhanced {
				t.Fatalf("result %+v (%s), want %s %d %s", res, res, c.want, c.code, c.enhanced)
			}
			if res.Err == nil || res.String() == "" {
				t.Fatalf("no error in %+v", res)
			}
			if got := len(s.Messages()); got != c.received {
				t.Fatalf("server received %d messages, want %d", got, c.received)
			}
		})
	}
}

// No reply to the end of DATA within DataTimeout: ambiguous, never a retry.
func TestSendTimeoutAtEndOfDataIsAmbiguous(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s := smtptest.Start(t, smtptest.Options{Hook: func(st smtptest.Stage, _ smtptest.Message) error {
		if st == smtptest.StageData {
			<-release
		}
		return nil
	}})
	srv := server(s, "none", nil)
	srv.DataTimeout = 300 * time.Millisecond
	raw, _ := Build(followUp())
	res := send(t, srv, raw)
	if res.Outcome != Ambiguous || !errors.Is(res.Err, errTimeout(res.Err)) {
		t.Fatalf("result %+v, want ambiguous after a timeout", res)
	}
}

// errTimeout returns err itself when it is a timeout, so that errors.Is
// holds exactly then.
func errTimeout(err error) error {
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

// Implicit TLS and STARTTLS, AUTH PLAIN and LOGIN, each alone on offer.
func TestDialSecurityAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := smtptest.Certificate(t)
	for _, c := range []struct {
		name     string
		security string
		opts     smtptest.Options
	}{
		{"implicit TLS, PLAIN", "tls", smtptest.Options{TLS: serverTLS, Implicit: true, Mechanisms: []string{sasl.Plain}}},
		{"implicit TLS, LOGIN", "tls", smtptest.Options{TLS: serverTLS, Implicit: true, Mechanisms: []string{sasl.Login}}},
		{"STARTTLS, PLAIN", "starttls", smtptest.Options{TLS: serverTLS, Mechanisms: []string{sasl.Plain}}},
		{"STARTTLS, LOGIN", "starttls", smtptest.Options{TLS: serverTLS, Mechanisms: []string{sasl.Login}}},
		{"clear text on loopback, LOGIN", "none", smtptest.Options{Mechanisms: []string{sasl.Login}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := smtptest.Start(t, c.opts)
			raw, _ := Build(followUp())
			if res := send(t, server(s, c.security, clientTLS), raw); res.Outcome != Accepted {
				t.Fatalf("result %+v", res)
			}
			if got := s.Wait(t, 1, 5*time.Second)[0]; got.User != smtptest.User {
				t.Fatalf("authenticated as %q", got.User)
			}
		})
	}
}

// Failures before any transaction: nothing was sent. A refused login is
// marked so (retrying will not help); a server without STARTTLS is not
// used in the clear; an untrusted certificate is refused.
func TestDialFailures(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := smtptest.Certificate(t)
	plain := smtptest.Start(t, smtptest.Options{})
	tlsSrv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Implicit: true})
	wrongPassword := server(plain, "none", nil)
	wrongPassword.Password = "wrong"
	for _, c := range []struct {
		name    string
		srv     Server
		refused bool
	}{
		{"wrong password", wrongPassword, true},
		{"STARTTLS required, not offered", server(plain, "starttls", clientTLS), false},
		{"untrusted certificate", server(tlsSrv, "tls", nil), false},
		{"nothing listening", Server{Host: "127.0.0.1", Port: 1, Security: "none", Timeout: 2 * time.Second}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sess, err := Dial(context.Background(), c.srv)
			var de *DialError
			if err == nil {
				sess.Close()
				t.Fatal("dialled")
			}
			if !errors.As(err, &de) || de.Refused != c.refused {
				t.Fatalf("error %v (%#v), want a DialError with Refused = %v", err, de, c.refused)
			}
		})
	}
	if n := len(plain.Messages()) + len(tlsSrv.Messages()); n != 0 {
		t.Fatalf("%d messages received", n)
	}
}
