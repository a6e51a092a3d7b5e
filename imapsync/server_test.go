package imapsync

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/outreach/outreach/internal/testcert"
)

// testUser and testPass log in to every test server.
const (
	testUser = "applicant@example.org"
	testPass = "s3cret pass"
)

// memServer is go-imap's in-memory server on 127.0.0.1:0.
type memServer struct {
	user *imapmemserver.User
	addr string
	port int
	tls  *tls.Config // client config trusting the server's certificate, when TLS is on
}

// serverConfig selects how a memServer listens.
type serverConfig struct {
	implicitTLS bool // TLS listener (port 993 style)
	startTLS    bool // STARTTLS on a plain listener
	noSpecial   bool // do not advertise SPECIAL-USE
	// refuseGuess: answer BAD to a FETCH asking for BODYSTRUCTURE with any
	// body section but the header (a server strict about phase 2's guess)
	refuseGuess bool
}

// newMemServer starts a server with INBOX and Sent (no special use: Sent is
// found by name) and stops it when the test ends.
func newMemServer(t testing.TB, cfg serverConfig) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(testUser, testPass)
	for _, name := range []string{"INBOX", "Sent"} {
		if err := user.Create(name, nil); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	mem.AddUser(user)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapListExtended: {}}
	if !cfg.noSpecial {
		caps[imap.CapSpecialUse] = struct{}{}
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if cfg.refuseGuess {
				return refusingGuess{mem.NewSession()}, nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps: caps, InsecureAuth: true, Logger: log.New(io.Discard, "", 0),
	}
	s := &memServer{user: user}
	var serverTLS *tls.Config
	if cfg.implicitTLS || cfg.startTLS {
		serverTLS, s.tls = selfSignedTLS(t)
	}
	if cfg.startTLS {
		opts.TLSConfig = serverTLS
		opts.InsecureAuth = false
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.implicitTLS {
		ln = tls.NewListener(ln, serverTLS)
	}
	srv := imapserver.New(opts)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.addr = ln.Addr().String()
	s.port = ln.Addr().(*net.TCPAddr).Port
	return s
}

// refusingGuess is a session that refuses phase 2's guessed sections.
type refusingGuess struct{ imapserver.Session }

func (s refusingGuess) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	for _, bs := range options.BodySection {
		if options.BodyStructure != nil && (bs.Specifier != imap.PartSpecifierHeader || len(bs.Part) > 0) {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "one thing at a time"}
		}
	}
	return s.Session.Fetch(w, numSet, options)
}

// account returns an Account for this server.
func (s *memServer) account(security string) Account {
	return Account{Host: "127.0.0.1", Port: s.port, Security: security, Username: testUser,
		Password: testPass, TLSConfig: s.tls, CommandTimeout: 20 * time.Second}
}

// dial connects with Security "none" (or "tls" when the server is TLS-only).
func (s *memServer) dial(t testing.TB) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), s.account("none"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialProxied connects through a new proxy, which counts the bytes the
// client reads and records the lines it sends.
func (s *memServer) dialProxied(t testing.TB) (*Conn, *proxy) {
	t.Helper()
	p := newProxy(t, s.addr)
	a := s.account("none")
	a.Port = p.port
	c, err := Dial(context.Background(), a)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

// appendMsgs stores messages in mailbox through the server's backend.
func (s *memServer) appendMsgs(t testing.TB, mailbox string, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		_, err := s.user.Append(mailbox, bytes.NewReader(m), &imap.AppendOptions{Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatalf("append to %s: %v", mailbox, err)
		}
	}
}

// genMessages returns n test messages numbered from first.
func genMessages(first, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = genMessage(first + i)
	}
	return out
}

// genMessage is a reply-shaped message with RFC 2047 words and mixed-case
// addresses.
func genMessage(i int) []byte {
	return []byte(fmt.Sprintf("Return-Path: <Prof.%[1]d@Uni.EXAMPLE.edu>\r\n"+
		"Message-ID: <msg-%[1]d@mail.example.edu>\r\n"+
		"In-Reply-To: <out-%[1]d@outreach.example>\r\n"+
		"References: <root-%[1]d@outreach.example>\r\n <out-%[1]d@outreach.example>\r\n"+
		"From: =?UTF-8?Q?Prof=2E_J=C3=BCrgen_M=C3=BCller?= <Prof.%[1]d@Uni.EXAMPLE.edu>\r\n"+
		"To: Applicant <Applicant@Example.ORG>\r\n"+
		"Cc: lab-%[1]d@Uni.Example.edu, \"Second, Person\" <Second@Example.edu>\r\n"+
		"Subject: =?UTF-8?B?%[2]s?= %[1]d\r\n"+
		"Date: Mon, 3 Mar 2025 10:%02[3]d:00 +0100\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"X-Filler: this field is not fetched in phase 1\r\n"+
		"\r\n"+
		"Thank you for your interest in our lab, message %[1]d.\r\n",
		i, "UmU6IFBoRCBwb3NpdGlvbiDigJMgZ3LDtsOfZQ==", i%60))
}

// selfSignedTLS returns a server config with a fresh certificate for
// 127.0.0.1 and a client config that trusts it.
func selfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	c := testcert.New(t, "imapsync test")
	return c.Server, c.Client
}

// proxy is a TCP relay in front of a server that counts the bytes the
// client reads and records the lines the client sends.
type proxy struct {
	port int

	mu      sync.Mutex
	changed *sync.Cond
	sent    strings.Builder // client -> server
	read    int64           // server -> client bytes
}

// newProxy relays 127.0.0.1:<port> to target until the test ends.
func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &proxy{port: ln.Addr().(*net.TCPAddr).Port}
	p.changed = sync.NewCond(&p.mu)
	go p.serve(ln, target)
	return p
}

// serve accepts connections and relays each.
func (p *proxy) serve(ln net.Listener, target string) {
	for {
		down, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			down.Close()
			continue
		}
		go p.pipe(up, down, true)
		go p.pipe(down, up, false)
	}
}

// pipe copies src to dst, recording what passes.
func (p *proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.record(buf[:n], fromClient)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// record notes traffic and wakes waiters.
func (p *proxy) record(b []byte, fromClient bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fromClient {
		p.sent.Write(b)
	} else {
		p.read += int64(len(b))
	}
	p.changed.Broadcast()
}

// reset forgets what was recorded.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent.Reset()
	p.read = 0
}

// commands returns what the client sent since the last reset.
func (p *proxy) commands() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.String()
}

// bytesRead returns how many bytes the client received since the last reset.
func (p *proxy) bytesRead() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.read
}

// waitSent waits until the client has sent s.
func (p *proxy) waitSent(t testing.TB, s string, within time.Duration) {
	t.Helper()
	p.waitCount(t, s, 1, within)
}

// waitCount waits until the client has sent s at least n times.
func (p *proxy) waitCount(t testing.TB, s string, n int, within time.Duration) {
	t.Helper()
	deadline := time.AfterFunc(within, func() {
		p.mu.Lock()
		p.changed.Broadcast()
		p.mu.Unlock()
	})
	defer deadline.Stop()
	end := time.Now().Add(within)
	p.mu.Lock()
	defer p.mu.Unlock()
	for strings.Count(p.sent.String(), s) < n {
		if time.Now().After(end) {
			t.Fatalf("client did not send %q %d times within %s", s, n, within)
		}
		p.changed.Wait()
	}
}

// collector is an emit function that keeps every batch.
type collector struct{ batches []Batch }

// emit records b.
func (c *collector) emit(b Batch) error {
	c.batches = append(c.batches, b)
	return nil
}

// uids lists the UIDs delivered, in delivery order.
func (c *collector) uids() []uint32 {
	var out []uint32
	for _, b := range c.batches {
		for _, m := range b.Messages {
			out = append(out, m.UID)
		}
	}
	return out
}

// final returns the last batch, failing unless it is final.
func (c *collector) final(t testing.TB) Batch {
	t.Helper()
	if len(c.batches) == 0 || !c.batches[len(c.batches)-1].Final {
		t.Fatalf("no final batch in %d batches", len(c.batches))
	}
	return c.batches[len(c.batches)-1]
}

// seqUIDs returns lo..hi.
func seqUIDs(lo, hi uint32) []uint32 {
	var out []uint32
	for u := lo; u <= hi; u++ {
		out = append(out, u)
	}
	return out
}

// equalUIDs compares UID lists.
func equalUIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
