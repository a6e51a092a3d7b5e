package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/internal/smtptest"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
)

// runDaemonInProcess runs `outreach run` with a frozen clock until ctx ends;
// the returned channel gives its exit code, and ready the web address.
func runDaemonInProcess(ctx context.Context, env map[string]string, now time.Time, out io.Writer, args ...string) (<-chan int, <-chan string) {
	return runDaemonHooked(ctx, env, now, out, nil, args...)
}

// runDaemonHooked is runDaemonInProcess with sendRan told after every run
// of the sender.
func runDaemonHooked(ctx context.Context, env map[string]string, now time.Time, out io.Writer, sendRan func(),
	args ...string) (<-chan int, <-chan string) {
	ready := make(chan string, 1)
	a := &app{ioEnv: ioEnv{stdin: strings.NewReader(""), stdout: out, stderr: out,
		getenv: func(k string) string { return env[k] }}, now: func() time.Time { return now }}
	a.readyHook = func(url string) { ready <- url }
	a.sentHook = sendRan
	done := make(chan int, 1)
	go func() { done <- runApp(ctx, a, append(args, "run")) }()
	return done, ready
}

func waitFor[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("no %s within %v", what, within)
	}
	var zero T
	return zero
}

// SIGTERM (a cancelled context, as main's signal handling makes it) while a
// follow-up is in the SMTP server's hands: the send finishes and is
// recorded, its copy goes to Sent, and the daemon exits cleanly; the
// /metrics and /healthz pages answered before.
func TestRunStopsCleanlyDuringSend(t *testing.T) {
	t.Parallel()
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(*dovecot.Server) smtptest.Hook {
		return func(st smtptest.Stage, _ smtptest.Message) error {
			if st == smtptest.StageData {
				once.Do(func() { close(reached) })
				<-release
			}
			return nil
		}
	}
	s := newSendSetup(t, sendOptions{hook: hook, sentCopy: "append"}, "chen@med.example.edu")
	appendFile(t, s.cfg, "\n[web]\nlisten = \"127.0.0.1:0\"\n")
	now, _ := time.Parse(time.RFC3339, sendAt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log lockedBuffer
	done, ready := runDaemonInProcess(ctx, s.env, now, &log, "--config", s.cfg)
	url := waitFor(t, ready, time.Minute, "start-up")
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), `outreach_drafts{state="approved"} 1`) {
			t.Errorf("/metrics lacks the approved draft:\n%s", body)
		}
	}
	waitFor(t, reached, time.Minute, "follow-up at the SMTP server")
	cancel() // SIGTERM
	close(release)
	if code := waitFor(t, done, time.Minute, "shutdown"); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, log.String())
	}
	var state, copyState string
	s.query(t, &state, `SELECT state FROM drafts WHERE id = 1`)
	s.query(t, &copyState, `SELECT sent_copy FROM drafts WHERE id = 1`)
	if state != "sent" || copyState != "done" || len(s.smtp.Messages()) != 1 || s.copiesInSent(t, 1) != 1 {
		t.Fatalf("after SIGTERM during the send: draft %s, copy %s, %d received, %d in Sent\n%s",
			state, copyState, len(s.smtp.Messages()), s.copiesInSent(t, 1), log.String())
	}
	var thread string
	s.query(t, &thread, `SELECT state FROM threads WHERE id = 1`)
	if thread != "followed_up" {
		t.Fatalf("thread %s after the send, want followed_up", thread)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// A real SIGTERM to a daemon in the middle of an initial sync: it exits
// cleanly, every stored batch is whole (no row beyond the stored cursor),
// and the next pass ends with every message stored exactly once.
func TestRunStopsCleanlyDuringSync(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imap := dovecot.ForTest(t)
	const total = 12000
	msgs := make([][]byte, total)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf("From: Someone <news%d@list.example>\r\nTo: applicant@example.org\r\nSubject: Issue %d\r\n"+
			"Message-ID: <m%d@list.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nHello.\r\n", i, i, i))
	}
	if err := imap.Deliver("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	smtp := smtptest.Start(t, smtptest.Options{})
	env := dbEnv(t)
	s := &sendSetup{env: env, imap: imap, smtp: smtp}
	cfg := writeFile(t, "outreach.toml", s.config(imap.Port, "append")+"\n[web]\nlisten = \"127.0.0.1:0\"\n")

	encoded, _ := json.Marshal([]string{"--config", cfg, "run"})
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunChildProcess$", "-test.count=1")
	cmd.Env = []string{"OUTREACH_RUN_CHILD=1", "OUTREACH_RUN_ARGS=" + string(encoded), "PATH=" + os.Getenv("PATH"),
		"OUTREACH_DATABASE_URL=" + env["OUTREACH_DATABASE_URL"], "HOME=" + env["HOME"]}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	st, err := store.Open(ctx, env["OUTREACH_DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows := func() int {
		var n int
		if err := st.DB().Get(&n, `SELECT count(*) FROM messages`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for rows() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing synced within a minute:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	atSignal := rows()
	if err := waitFor(t, exited, time.Minute, "exit after SIGTERM"); err != nil {
		t.Fatalf("run after SIGTERM: %v\n%s", err, out.String())
	}
	t.Logf("%d of %d messages stored when SIGTERM arrived", atSignal, total)
	var beyond, held, stored int
	if err := st.DB().Get(&beyond, `SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE m.uid > b.highest_uid`); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRow(`SELECT b.message_count, (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id)
		FROM mailboxes b WHERE b.name = 'INBOX'`).Scan(&held, &stored); err != nil {
		t.Fatal(err)
	}
	if beyond != 0 || held != stored {
		t.Fatalf("half state after SIGTERM: %d rows beyond the cursor; cursor holds %d, %d rows", beyond, held, stored)
	}
	r := cli(t, env, "", "--config", cfg, "sync", "--once")
	if r.code != 0 {
		t.Fatalf("sync after the stop: %+v", r)
	}
	var distinct int
	if err := st.DB().Get(&distinct, `SELECT count(DISTINCT message_id) FROM messages`); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != total || distinct != total {
		t.Fatalf("after the next pass: %d rows, %d distinct, want %d each", n, distinct, total)
	}
}

// TestRunChildProcess is the daemon of TestRunStopsCleanlyDuringSync: the
// test binary run again as `outreach run`, with main's signal handling.
func TestRunChildProcess(t *testing.T) {
	if os.Getenv("OUTREACH_RUN_CHILD") == "" {
		t.Skip("run by TestRunStopsCleanlyDuringSync")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv("OUTREACH_RUN_ARGS")), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitInternal)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, args, ioEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// In `outreach run`, an approval made elsewhere (the CLI here: another
// process, as far as the daemon knows) goes out within seconds rather than
// at the sender's next run a minute later; and a contact added while it
// runs has their earlier mail fetched by a pass started at once, not at the
// safety pass minutes later.
func TestRunActsOnApprovalsAndNewContactsAtOnce(t *testing.T) {
	t.Parallel()
	s := newSendSetup(t, sendOptions{noApprove: true}, "chen@med.example.edu")
	lee := "From: Dr. Lee <lee@uro.example.edu>\r\nTo: applicant@example.org\r\nSubject: Observership\r\n" +
		"Message-ID: <lee-1@uro.example.edu>\r\nDate: " + firstSent.Format(time.RFC1123Z) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHappy to talk next week.\r\n"
	if err := s.imap.Deliver("INBOX", []byte(lee)); err != nil {
		t.Fatal(err)
	}
	appendFile(t, s.cfg, "\n[web]\nlisten = \"127.0.0.1:0\"\n")
	now, _ := time.Parse(time.RFC3339, sendAt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sendRuns := make(chan struct{}, 16)
	var log lockedBuffer
	done, _ := runDaemonHooked(ctx, s.env, now, &log, func() { sendRuns <- struct{}{} }, "--config", s.cfg)
	waitFor(t, sendRuns, time.Minute, "the sender's first run") // nothing approved: nothing sent
	leeStored := func(skeleton bool) bool {
		var n int
		s.query(t, &n, `SELECT count(*) FROM messages WHERE message_id = 'lee-1@uro.example.edu' AND (raw IS NOT NULL) = $1`, skeleton)
		return n == 1
	}
	testwait.Until(t, 30*time.Second, "Lee's message synced (no skeleton: not a contact)", func() bool { return leeStored(false) })

	s.run(t, 0, "drafts", "approve", "1")
	testwait.Until(t, 20*time.Second, "the approved follow-up at the SMTP server", func() bool { return len(s.smtp.Messages()) == 1 })

	s.run(t, 0, "contacts", "add", "--email", "lee@uro.example.edu", "--last-name", "Lee")
	testwait.Until(t, 20*time.Second, "Lee's earlier message fetched", func() bool { return leeStored(true) })

	cancel()
	if code := waitFor(t, done, time.Minute, "shutdown"); code != 0 {
		t.Fatalf("run exited %d:\n%s", code, log.String())
	}
}
