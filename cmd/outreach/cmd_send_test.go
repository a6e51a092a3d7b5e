package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/internal/smtptest"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
)

// sendCLI is cli for commands that may include send.
func sendCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, ioEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return env[k] }})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// The test timeline, years ahead so the clock never gets there: the first
// emails on a Monday; the follow-ups proposed and approved eight days
// later, a Tuesday, and sent an hour after that.
var (
	firstSent = time.Date(2029, 12, 31, 9, 0, 0, 0, time.UTC)
	proposeAt = time.Date(2030, 1, 8, 10, 0, 0, 0, time.UTC)
	sendAt    = proposeAt.Add(time.Hour).Format(time.RFC3339)
)

// sendSetup is a database, a Dovecot, an SMTP server and a configuration
// pointing at them, with approved follow-ups to the given contacts.
type sendSetup struct {
	env   map[string]string
	cfg   string
	imap  *dovecot.Server
	smtp  *smtptest.Server
	proxy *imapProxy // between outreach and Dovecot
}

// sendOptions shape a sendSetup: the SMTP server's hook (made once Dovecot
// runs), whether the IMAP proxy holds the first APPEND, and sent_copy.
type sendOptions struct {
	hook       func(imap *dovecot.Server) smtptest.Hook
	holdAppend bool
	sentCopy   string
	noApprove  bool // leave the drafts proposed
}

func newSendSetup(t *testing.T, o sendOptions, contacts ...string) *sendSetup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imap := dovecot.ForTest(t)
	var hook smtptest.Hook
	if o.hook != nil {
		hook = o.hook(imap)
	}
	s := &sendSetup{env: dbEnv(t), imap: imap, smtp: smtptest.Start(t, smtptest.Options{Hook: hook}),
		proxy: startIMAPProxy(t, fmt.Sprintf("127.0.0.1:%d", imap.Port), o.holdAppend)}
	s.cfg = writeFile(t, "outreach.toml", s.config(s.proxy.port(), o.sentCopy))
	for _, c := range contacts {
		s.run(t, 0, "contacts", "add", "--email", c, "--first-name", "Wei", "--last-name", "Chen", "--title", "Professor")
		msg := fmt.Sprintf("From: Amaka Obi <applicant@example.org>\r\nTo: %s\r\nSubject: Research opportunity\r\n"+
			"Message-ID: <first-%s>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
			"Dear Professor Chen,\r\n\r\nI read your paper on robotic prostatectomy outcomes.\r\n", c, c, firstSent.Format(time.RFC1123Z))
		if err := imap.Deliver("Sent", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	s.run(t, 0, "sync", "--once", "--account", "main")
	s.run(t, 0, "tick", "--now", proposeAt.Format(time.RFC3339))
	st, err := store.Open(ctx, s.env["OUTREACH_DATABASE_URL"], store.Options{Now: func() time.Time { return proposeAt.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []int64
	if err := st.DB().Select(&ids, `SELECT id FROM drafts WHERE state = 'proposed' ORDER BY id`); err != nil || len(ids) != len(contacts) {
		t.Fatalf("drafts %v (%v), want %d", ids, err, len(contacts))
	}
	for _, id := range ids {
		if o.noApprove {
			break
		}
		if err := st.ApproveDraft(ctx, id, 1); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *sendSetup) config(imapPort int, sentCopy string) string {
	return fmt.Sprintf(`[profile]
name = "Amaka Obi"
position = "International medical graduate"

[[accounts]]
name = "main"
email = "applicant@example.org"
display_name = "Amaka Obi"
timezone = "UTC"
sent_copy = %q

[accounts.imap]
host = "127.0.0.1"
port = %d
security = "none"
username = %q
password = %q

[accounts.smtp]
host = "127.0.0.1"
port = %d
security = "none"
username = %q
password = %q
`, sentCopy, imapPort, dovecot.User, dovecot.Password, s.smtp.Port, smtptest.User, smtptest.Password)
}

func (s *sendSetup) run(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := sendCLI(t, s.env, append([]string{"--config", s.cfg}, args...)...)
	if r.code != code {
		t.Fatalf("%v: exit %d, want %d:\n%s%s", args, r.code, code, r.stdout, r.stderr)
	}
	return r
}

// query runs one query on the test database.
func (s *sendSetup) query(t *testing.T, dest any, q string, args ...any) {
	t.Helper()
	st, err := store.Open(context.Background(), s.env["OUTREACH_DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.DB().Get(dest, q, args...); err != nil {
		t.Fatal(err)
	}
}

// copiesInSent syncs and counts the messages in Sent with the draft's Message-ID.
func (s *sendSetup) copiesInSent(t *testing.T, draft int64) int {
	t.Helper()
	s.run(t, 0, "sync", "--once")
	var n int
	s.query(t, &n, `SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE b.role = 'sent' AND m.expunged_at IS NULL AND m.message_id = (SELECT message_id FROM drafts WHERE id = $1)`, draft)
	return n
}

// send --once from the command line: what went out, what failed (loudly,
// exit 1), and nothing a second time.
func TestSendOnceCommand(t *testing.T) {
	t.Parallel()
	refuse := func(st smtptest.Stage, m smtptest.Message) error {
		if st == smtptest.StageRcpt && m.To[0] == "gone@med.example.edu" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	s := newSendSetup(t, sendOptions{hook: func(*dovecot.Server) smtptest.Hook { return refuse }, sentCopy: "append"},
		"chen@med.example.edu", "gone@med.example.edu")

	if r := sendCLI(t, s.env, "--config", s.cfg, "send", "--now", sendAt); r.code != exitInvalid {
		t.Fatalf("--now without --once: %+v", r)
	}
	r := s.run(t, 1, "send", "--once", "--now", sendAt)
	for _, want := range []string{"sent       draft 1 to chen@med.example.edu (thread 1): 250 ",
		"failed     draft 2 to gone@med.example.edu (thread 2): 550 5.1.1 no such user",
		"1 sent, 0 retrying, 1 failed, 0 may have been sent, 0 withdrawn, 0 waiting"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "draft 2 to gone@med.example.edu FAILED and was not sent: 550 5.1.1 no such user") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if n := s.copiesInSent(t, 1); n != 1 {
		t.Fatalf("%d copies of draft 1 in Sent", n)
	}
	if r := s.run(t, 0, "send", "--once", "--now", sendAt, "--json"); r.stdout != "" {
		t.Fatalf("second run: %q", r.stdout)
	}
	if n := len(s.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages received, want 1", n)
	}
}

// The send process is killed (SIGKILL) at each point of a send, then run
// again: nothing is ever sent twice, and nothing is lost in silence:
// either the follow-up is recorded as sent with its one copy in Sent, or
// it waits in review and the run says so loudly.
func TestSendKilledAtEachPoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		stage     smtptest.Stage // where the SMTP server holds the child; "" to hold its APPEND instead
		sentCopy  string
		fileSent  bool   // the "provider" files the accepted message in Sent, as Gmail does
		stateThen string // the draft when the child is killed
		after     string // and after the restart
		received  int    // messages the SMTP server received in full, in all
	}{
		{"after sending is committed", smtptest.StageMail, "append", false, "sending", "review", 0},
		{"after the server accepted DATA", smtptest.StageData, "append", false, "sending", "review", 1},
		{"after DATA, provider files Sent", smtptest.StageData, "provider", true, "sending", "sent", 1},
		{"before the copy in Sent", "", "append", false, "sent", "sent", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reached, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hook := func(imap *dovecot.Server) smtptest.Hook {
				return func(st smtptest.Stage, m smtptest.Message) error {
					if c.stage == "" || st != c.stage {
						return nil
					}
					if c.fileSent {
						_ = imap.Deliver("Sent", m.Data)
					}
					once.Do(func() { close(reached) })
					<-release
					return smtptest.ErrDrop
				}
			}
			s := newSendSetup(t, sendOptions{hook: hook, holdAppend: c.stage == "", sentCopy: c.sentCopy}, "chen@med.example.edu")
			if c.stage == "" {
				reached = s.proxy.held
			}

			child := startChild(t, s, "--config", s.cfg, "send", "--once", "--now", sendAt)
			select {
			case <-reached:
			case <-child.done:
				t.Fatalf("the child ended before the kill point:\n%s", child.output())
			case <-time.After(30 * time.Second):
				t.Fatalf("the child did not reach the kill point:\n%s", child.output())
			}
			var state string
			s.query(t, &state, `SELECT state FROM drafts WHERE id = 1`)
			if state != c.stateThen {
				t.Fatalf("draft is %s at the kill point, want %s", state, c.stateThen)
			}
			child.kill(t)
			close(release)
			s.waitNoLease(t)

			code := 0
			if c.after == "review" {
				code = 1
			}
			r := s.run(t, code, "send", "--once", "--now", sendAt)
			s.query(t, &state, `SELECT state FROM drafts WHERE id = 1`)
			if state != c.after {
				t.Fatalf("after the restart the draft is %s, want %s:\n%s%s", state, c.after, r.stdout, r.stderr)
			}
			if c.after == "review" && !strings.Contains(r.stderr, "draft 1 to chen@med.example.edu MAY HAVE BEEN SENT: not found in Sent") {
				t.Fatalf("review is not loud:\n%s", r.stderr)
			}
			if c.stateThen == "sent" && !strings.Contains(r.stdout, "its copy was not in Sent after a restart: appended") {
				t.Fatalf("the copy appended after the restart is not reported:\n%s", r.stdout)
			}
			s.run(t, 0, "send", "--once", "--now", sendAt) // nothing left to do
			if n := len(s.smtp.Messages()); n != c.received {
				t.Fatalf("the SMTP server received %d messages, want %d", n, c.received)
			}
			wantCopies := 0
			if c.after == "sent" {
				wantCopies = 1
			}
			if n := s.copiesInSent(t, 1); n != wantCopies {
				t.Fatalf("%d copies in Sent, want %d", n, wantCopies)
			}
			if c.after == "review" {
				s.settleReview(t, c.received == 1)
			}
		})
	}
}

// settleReview has the applicant say whether draft 1, in review, went out
// (they looked in their Sent folder); then nothing is sent again.
func (s *sendSetup) settleReview(t *testing.T, sent bool) {
	t.Helper()
	flag, wantDraft, wantThread := "--not-sent", "failed", "needs_review"
	if sent {
		flag, wantDraft, wantThread = "--sent", "sent", "followed_up"
	}
	s.run(t, exitInvalid, "drafts", "settle", "1")
	r := s.run(t, 0, "drafts", "settle", "1", flag, "--note", "checked my Sent folder", "--json")
	var d draftJSON
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if string(d.State) != wantDraft {
		t.Fatalf("settled %s: draft %s, want %s", flag, d.State, wantDraft)
	}
	s.run(t, 0, "tick", "--now", proposeAt.Add(2*time.Hour).Format(time.RFC3339)) // the planner, as the daemon runs it
	var thread string
	s.query(t, &thread, `SELECT state FROM threads WHERE id = 1`)
	if thread != wantThread {
		t.Fatalf("settled %s: thread %s, want %s", flag, thread, wantThread)
	}
	var followups int
	s.query(t, &followups, `SELECT followups_sent FROM threads WHERE id = 1`)
	if sent != (followups == 1) {
		t.Fatalf("settled %s: the thread counts %d follow-ups", flag, followups)
	}
	before := len(s.smtp.Messages())
	s.run(t, 0, "send", "--once", "--now", sendAt)
	if len(s.smtp.Messages()) != before {
		t.Fatal("a settled draft was sent again")
	}
	s.run(t, exitConflict, "drafts", "settle", "1", flag) // settled already
}

// waitNoLease waits until the killed child's database session is gone,
// and with it the lease it held.
func (s *sendSetup) waitNoLease(t *testing.T) {
	t.Helper()
	testwait.Until(t, 15*time.Second, "the killed child's lease released", func() bool {
		var n int
		s.query(t, &n, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		return n == 0
	})
}

// TestSendChildProcess is the send process of TestSendKilledAtEachPoint:
// the test binary run again, running the CLI with the arguments it is
// given. Without OUTREACH_SEND_CHILD it does nothing.
func TestSendChildProcess(t *testing.T) {
	if os.Getenv("OUTREACH_SEND_CHILD") == "" {
		t.Skip("run by TestSendKilledAtEachPoint")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv("OUTREACH_SEND_ARGS")), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitInternal)
	}
	os.Exit(run(context.Background(), args, ioEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

type childProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startChild(t *testing.T, s *sendSetup, args ...string) *childProcess {
	t.Helper()
	encoded, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSendChildProcess$", "-test.count=1")
	cmd.Env = []string{"OUTREACH_SEND_CHILD=1", "OUTREACH_SEND_ARGS=" + string(encoded), "PATH=" + os.Getenv("PATH"),
		"OUTREACH_DATABASE_URL=" + s.env["OUTREACH_DATABASE_URL"], "HOME=" + s.env["HOME"]}
	c := &childProcess{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.done })
	return c
}

// kill sends SIGKILL, as a crash or an OOM kill would, and waits for the end.
func (c *childProcess) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

func (c *childProcess) output() string { return c.out.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// imapProxy forwards IMAP connections to Dovecot; when holdAppend is set,
// it holds the first APPEND (the copy in Sent) and never forwards it, so
// that the child can be killed right before its copy is stored.
type imapProxy struct {
	ln     net.Listener
	target string
	held   chan struct{} // closed when the APPEND is held
	mu     sync.Mutex
	armed  bool
}

func startIMAPProxy(t *testing.T, target string, holdAppend bool) *imapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &imapProxy{ln: ln, target: target, held: make(chan struct{}), armed: holdAppend}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *imapProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *imapProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server); client.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 && p.hold(buf[:n]) {
			_, _ = io.Copy(io.Discard, client) // until the client dies
			return
		}
		if n > 0 {
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold reports whether this chunk is the APPEND to hold (the first only).
func (p *imapProxy) hold(chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.armed || !bytes.Contains(bytes.ToUpper(chunk), []byte(" APPEND ")) {
		return false
	}
	p.armed = false
	close(p.held)
	return true
}

// sent_copy: auto by default (the provider's copy for Gmail and Microsoft,
// an APPEND elsewhere), append or provider when set, anything else refused
// with its line.
func TestSentCopyConfig(t *testing.T) {
	t.Parallel()
	account := func(host, sentCopy string) string {
		line := ""
		if sentCopy != "" {
			line = fmt.Sprintf("sent_copy = %q\n", sentCopy)
		}
		return fmt.Sprintf(`[[accounts]]
name = "main"
email = "applicant@example.org"
%s
[accounts.imap]
host = "imap.example.org"
password = "x"

[accounts.smtp]
host = %q
password = "y"
`, line, host)
	}
	for _, c := range []struct {
		host, sentCopy string
		provider       bool
	}{
		{"smtp.gmail.com", "", true},
		{"smtp.office365.com", "auto", true},
		{"smtp.example.org", "", false},
		{"smtp.gmail.com", "append", false},
		{"smtp.example.org", "provider", true},
	} {
		cfg, err := loadConfig(writeFile(t, "outreach.toml", account(c.host, c.sentCopy)), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Accounts[0].providerFilesSent(); got != c.provider {
			t.Errorf("%s with sent_copy %q: provider files Sent = %v, want %v", c.host, c.sentCopy, got, c.provider)
		}
	}
	_, err := loadConfig(writeFile(t, "outreach.toml", account("smtp.example.org", "both")), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `outreach.toml:4: accounts[0].sent_copy: "both": want auto, append or provider`) {
		t.Fatalf("a bad sent_copy: %v", err)
	}
}
