package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/internal/demo"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
)

// The demo as a user gets it, without a terminal: its own PostgreSQL, the
// story seeded, the daemon running. Every seeded thread ends where the
// story says, the printed password opens the web page, an injected reply
// is detected and withdraws the proposed draft, and Ctrl-C leaves nothing
// behind: no state file, no directory, no postgres, no listener.
func TestDemo(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	statePath := filepath.Join(t.TempDir(), "demo.json")
	out, errOut := &syncBuffer{}, &syncBuffer{}
	env := ioEnv{stdin: strings.NewReader(""), stdout: out, stderr: errOut,
		getenv: func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }}
	exit, done := -1, make(chan struct{}) // exit is set when done closes
	// Tuesday 14:30 UTC: inside the send window of every due contact.
	go func() {
		defer close(done)
		exit = demoCLI(ctx, env, "--now", "2025-06-10T14:30:00Z", "--listen", "127.0.0.1:0", "--state", statePath)
	}()
	// Ctrl-C, and wait for the demo to clean up, also when the test fails.
	interrupt := func() int {
		stop()
		select {
		case <-done:
			return exit
		case <-time.After(60 * time.Second):
			t.Error("the demo did not stop within 60s of Ctrl-C")
			return -1
		}
	}
	t.Cleanup(func() { interrupt() })

	state := waitState(t, statePath, done, errOut)
	st, err := store.Open(ctx, state.DatabaseURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	settle, cancel := context.WithTimeout(ctx, 45*time.Second)
	threads, err := demo.WaitSettled(settle, st, state.Faculty, 100*time.Millisecond)
	cancel()
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, errOut)
	}
	checkSeededThreads(t, ctx, st, threads)

	printed := waitOutput(t, out, "After the first planning pass")
	for _, f := range state.Faculty {
		if !strings.Contains(printed, f.Name) {
			t.Errorf("the summary does not name %s:\n%s", f.Name, printed)
		}
	}
	checkWebLogin(t, printed)

	chen := threadOf(t, threads, "robert.chen@atlantic.example.edu")
	r := demoCLI(ctx, env, "reply", "--from", chen.Email, "--state", statePath)
	if r != 0 {
		t.Fatalf("demo reply: exit %d\n%s", r, errOut)
	}
	waitThread(t, ctx, st, state.Faculty, chen.Email, func(th demo.Thread) bool {
		return th.State == outreach.ThreadReplied && th.Draft != nil && th.Draft.ID == chen.Draft.ID &&
			th.Draft.State == outreach.DraftSuperseded
	})
	waitOutput(t, out, fmt.Sprintf("Robert Chen        replied (draft #%d withdrawn)", chen.Draft.ID))

	if code := interrupt(); code != 0 {
		t.Fatalf("demo exited %d\nstderr:\n%s", code, errOut)
	}
	checkNothingLeft(t, statePath, state)
	if code := demoCLI(context.Background(), env, "reply", "--from", chen.Email, "--state", statePath); code != exitNotFound {
		t.Errorf("demo reply with no demo running: exit %d, want %d", code, exitNotFound)
	}
}

// demoCLI runs `outreach demo ARGS` in-process, through run.
func demoCLI(ctx context.Context, env ioEnv, args ...string) int {
	return run(ctx, append([]string{"demo"}, args...), env)
}

// waitState waits for the running demo to announce itself.
func waitState(t *testing.T, path string, done <-chan struct{}, errOut *syncBuffer) demo.State {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := demo.ReadState(path); err == nil {
			return st
		}
		select {
		case <-done:
			t.Fatalf("the demo exited before it started\n%s", errOut)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no state file at %s within 60s\n%s", path, errOut)
	return demo.State{}
}

// checkSeededThreads checks what the first planning pass made of the
// story, beyond the states WaitSettled waited for: the drafts, the
// undeliverable address, the pause and the coordinator's threading.
func checkSeededThreads(t *testing.T, ctx context.Context, st *store.Store, threads []demo.Thread) {
	t.Helper()
	drafts := 0
	for _, th := range threads {
		switch th.Scenario {
		case demo.Silent:
			drafts++
			if th.Draft == nil || th.Draft.State != outreach.DraftProposed || th.Draft.To != th.Email ||
				th.Draft.InReplyTo != th.FirstMessageID || !strings.Contains(strings.Join(strings.Fields(th.Draft.Body), " "), th.Paper) {
				t.Errorf("%s: draft %+v, want a proposed follow-up to %s quoting their paper", th.Name, th.Draft, th.Email)
			}
		case demo.OutOfOffice:
			if th.PausedUntil == nil || th.NextAction != "resume" {
				t.Errorf("%s: paused until %v, next %q; want a resume date", th.Name, th.PausedUntil, th.NextAction)
			}
		default:
			if th.Draft != nil {
				t.Errorf("%s (%s): a draft %+v, want none", th.Name, th.Scenario, th.Draft)
			}
		}
	}
	if drafts != 4 {
		t.Errorf("%d silent threads, want 4", drafts)
	}
	bad, err := st.UndeliverableAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Address != "t.reed@mountainstate.example.edu" {
		t.Errorf("undeliverable addresses %+v, want Dr. Reed's", bad)
	}
}

// checkWebLogin logs in to the page with the password the demo printed.
func checkWebLogin(t *testing.T, printed string) {
	t.Helper()
	m := regexp.MustCompile(`web page  (http://\S+)/ +\(log in with the password (\S+)\)`).FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("no web address and password in:\n%s", printed)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := c.Get(m[1] + "/login")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(page.Body)
	page.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body.String())
	if csrf == nil {
		t.Fatalf("no CSRF token on the login page:\n%s", body.String())
	}
	req, _ := http.NewRequest("POST", m[1]+"/login", strings.NewReader(url.Values{"csrf": {csrf[1]}, "secret": {m[2]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", m[1])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the printed password: %s, want 303", resp.Status)
	}
}

func threadOf(t *testing.T, ts []demo.Thread, email string) demo.Thread {
	t.Helper()
	i := slices.IndexFunc(ts, func(th demo.Thread) bool { return th.Email == email })
	if i < 0 {
		t.Fatalf("no thread with %s", email)
	}
	return ts[i]
}

// waitThread waits until the thread with email satisfies ok.
func waitThread(t *testing.T, ctx context.Context, st *store.Store, faculty []demo.Faculty, email string, ok func(demo.Thread) bool) {
	t.Helper()
	var last demo.Thread
	if !testwait.For(30*time.Second, func() bool {
		ts, err := demo.Threads(ctx, st, faculty)
		if err != nil {
			t.Fatal(err)
		}
		last = threadOf(t, ts, email)
		return ok(last)
	}) {
		t.Fatalf("%s: thread %s (draft %+v) after 30s", email, last.State, last.Draft)
	}
}

// waitOutput waits until the demo printed want, and returns the output.
func waitOutput(t *testing.T, out *syncBuffer, want string) string {
	t.Helper()
	if !testwait.For(30*time.Second, func() bool { return strings.Contains(out.String(), want) }) {
		t.Fatalf("the demo did not print %q within 30s:\n%s", want, out)
	}
	return out.String()
}

// checkNothingLeft: after Ctrl-C, no state file, no directory, no postgres
// process serving the demo's cluster, and the IMAP port is closed.
func checkNothingLeft(t *testing.T, statePath string, st demo.State) {
	t.Helper()
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file %s left behind: %v", statePath, err)
	}
	if _, err := os.Stat(st.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo directory %s left behind: %v", st.Dir, err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("postgres")) && bytes.Contains(b, []byte(st.Dir)) {
			t.Errorf("a postgres process of the demo is still running: %s: %q", p, b)
		}
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(st.IMAPHost, strconv.Itoa(st.IMAPPort)), time.Second); err == nil {
		c.Close()
		t.Errorf("the demo's IMAP server still answers on port %d", st.IMAPPort)
	}
}

// syncBuffer is a bytes.Buffer the demo's goroutines write while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
