package imapsync

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConfig scripts a fakeServer: a goroutine on 127.0.0.1:0 speaking just
// enough IMAP (RFC 3501) to reproduce server quirks go-imap's own server
// does not have.
type fakeConfig struct {
	specialUse bool     // advertise SPECIAL-USE
	idle       bool     // advertise IDLE
	list       []string // untagged LIST lines
	messages   int      // INBOX holds UIDs 1..messages
	uidAfter   bool     // put UID after the header literal (Microsoft 365)
	dropAfter  int      // first connection only: close after this many FETCH responses
	// midLiteral: the drop comes halfway through the next response's
	// literal instead of between responses
	midLiteral bool
	// stall: instead of dropping, the server stops sending (after half the
	// literal when midLiteral) and keeps the connection open
	stall bool
}

// fakeServer is a running scripted server.
type fakeServer struct {
	cfg     fakeConfig
	port    int
	conns   atomic.Int32
	stalled chan struct{} // closed when a scripted stall begins

	mu   sync.Mutex
	sent strings.Builder // every command line received
}

// newFakeServer starts a scripted server until the test ends.
func newFakeServer(t testing.TB, cfg fakeConfig) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeServer{cfg: cfg, port: ln.Addr().(*net.TCPAddr).Port, stalled: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, f.conns.Add(1))
		}
	}()
	return f
}

// dial connects to the fake server.
func (f *fakeServer) dial(t testing.TB) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), Account{Host: "127.0.0.1", Port: f.port, Security: "none",
		Username: "u", Password: "p", CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Dial fake server: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// commands returns every command line received so far.
func (f *fakeServer) commands() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent.String()
}

// fakeSession is one connection's state.
type fakeSession struct {
	f       *fakeServer
	r       *bufio.Reader
	w       *bufio.Writer
	n       int32  // connection number, from 1
	fetched int    // FETCH responses written
	idleTag string // tag of the IDLE in progress
}

// serve speaks to one client until LOGOUT or a scripted drop.
func (f *fakeServer) serve(c net.Conn, n int32) {
	defer c.Close()
	s := &fakeSession{f: f, r: bufio.NewReader(c), w: bufio.NewWriter(c), n: n}
	s.write("* OK fake IMAP ready")
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return
		}
		f.mu.Lock()
		f.sent.WriteString(line)
		f.mu.Unlock()
		if !s.handle(strings.TrimRight(line, "\r\n")) {
			return
		}
	}
}

// write sends lines, each followed by CRLF, and flushes.
func (s *fakeSession) write(lines ...string) {
	for _, l := range lines {
		s.w.WriteString(l + "\r\n")
	}
	s.w.Flush()
}

// handle answers one command; false ends the connection.
func (s *fakeSession) handle(line string) bool {
	if line == "DONE" {
		s.write(s.idleTag + " OK idle done")
		return true
	}
	tag, rest, _ := strings.Cut(line, " ")
	verb, args, _ := strings.Cut(rest, " ")
	verb = strings.ToUpper(verb)
	if verb == "UID" {
		verb, args, _ = strings.Cut(args, " ")
		verb = "UID " + strings.ToUpper(verb)
	}
	switch verb {
	case "CAPABILITY":
		s.write("* CAPABILITY "+s.caps(), tag+" OK done")
	case "LOGIN":
		s.write(tag + " OK [CAPABILITY " + s.caps() + "] logged in")
	case "LIST":
		s.write(append(s.f.cfg.list, tag+" OK listed")...)
	case "SELECT", "EXAMINE":
		n := s.f.cfg.messages
		s.write(fmt.Sprintf("* %d EXISTS", n), "* OK [UIDVALIDITY 7] ok",
			fmt.Sprintf("* OK [UIDNEXT %d] ok", n+1), tag+" OK [READ-WRITE] selected")
	case "UID FETCH":
		return s.fetch(tag, args)
	case "UID SEARCH":
		s.search(tag, args)
	case "IDLE":
		s.idleTag = tag
		s.write("+ idling")
	case "LOGOUT":
		s.write("* BYE bye", tag+" OK logged out")
		return false
	default:
		s.write(tag + " BAD not in this script")
	}
	return true
}

// caps is the capability list.
func (s *fakeSession) caps() string {
	c := "IMAP4rev1"
	if s.f.cfg.specialUse {
		c += " SPECIAL-USE LIST-EXTENDED"
	}
	if s.f.cfg.idle {
		c += " IDLE"
	}
	return c
}

// fetch answers UID FETCH with header fields, UID after the literal when
// scripted so.
func (s *fakeSession) fetch(tag, args string) bool {
	set, _, _ := strings.Cut(args, " ")
	for uid := 1; uid <= s.f.cfg.messages; uid++ {
		if !inSet(set, uid) {
			continue
		}
		if s.n == 1 && s.f.cfg.dropAfter > 0 && s.fetched == s.f.cfg.dropAfter {
			if s.f.cfg.midLiteral {
				resp := fakeFetchResponse(uid, false)
				s.w.WriteString(resp[:len(resp)-40]) // the literal's last bytes never come
				s.w.Flush()
			}
			if s.f.cfg.stall {
				close(s.f.stalled)
				_, _ = io.Copy(io.Discard, s.r) // until the client hangs up
			}
			return false // connection dropped mid-FETCH
		}
		s.fetched++
		s.w.WriteString(fakeFetchResponse(uid, s.f.cfg.uidAfter))
	}
	s.write(tag + " OK fetched")
	return true
}

// fakeFetchResponse is one FETCH response for message uid (sequence number
// equals UID in the fake mailbox).
func fakeFetchResponse(uid int, uidAfter bool) string {
	hdr := fmt.Sprintf("Message-ID: <fake-%d@example.com>\r\nFrom: Prof <prof@example.edu>\r\nSubject: reply %d\r\n\r\n", uid, uid)
	body := fmt.Sprintf("BODY[HEADER.FIELDS (MESSAGE-ID FROM SUBJECT)] {%d}\r\n%s", len(hdr), hdr)
	meta := fmt.Sprintf(`UID %d FLAGS (\Seen) INTERNALDATE "01-Mar-2025 12:00:00 +0000" RFC822.SIZE 1234`, uid)
	if uidAfter {
		return fmt.Sprintf("* %d FETCH (%s %s)\r\n", uid, body, meta)
	}
	return fmt.Sprintf("* %d FETCH (%s %s)\r\n", uid, meta, body)
}

// search answers UID SEARCH [UID set] with the matching UIDs.
func (s *fakeSession) search(tag, args string) {
	set := "1:*"
	if strings.HasPrefix(strings.ToUpper(args), "UID ") {
		set = strings.Fields(args)[1]
	}
	var uids []string
	for uid := 1; uid <= s.f.cfg.messages; uid++ {
		if inSet(set, uid) {
			uids = append(uids, strconv.Itoa(uid))
		}
	}
	s.write("* SEARCH "+strings.Join(uids, " "), tag+" OK searched")
}

// inSet reports whether uid is in an IMAP sequence set like "1:5,7,9:*".
func inSet(set string, uid int) bool {
	for _, r := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		if !isRange {
			hi = lo
		}
		a, b := setNum(lo), setNum(hi)
		if a > b {
			a, b = b, a
		}
		if uid >= a && uid <= b {
			return true
		}
	}
	return false
}

// setNum parses a set number; "*" is the largest.
func setNum(s string) int {
	if s == "*" {
		return 1 << 30
	}
	n, _ := strconv.Atoi(s)
	return n
}
