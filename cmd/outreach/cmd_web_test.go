package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// runWeb runs the CLI with these streams and environment.
func runWeb(ctx context.Context, env map[string]string, stdin string, stdout, stderr io.Writer, args ...string) int {
	return run(ctx, args, ioEnv{stdin: strings.NewReader(stdin), stdout: stdout, stderr: stderr,
		getenv: func(k string) string { return env[k] }})
}

// logWatch is the server's stderr: it wakes a waiting test on each write.
type logWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLogWatch() *logWatch { return &logWatch{wrote: make(chan struct{}, 1)} }

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

// await waits until the log matches re, and returns the first group.
func (l *logWatch) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		text := l.buf.String()
		l.mu.Unlock()
		if m != nil {
			return m[1]
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("the log never matched %s:\n%s", re, text)
		}
	}
}

func (l *logWatch) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var listeningURL = regexp.MustCompile(`web page listening" url=(http://[^\s"]+)/`)

// serveWeb starts `outreach web` and returns its URL and a func that
// stops it (as Ctrl-C does) and returns the exit code.
func serveWeb(t *testing.T, env map[string]string, cfg string) (string, *logWatch, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := newLogWatch()
	done := make(chan int, 1)
	go func() { done <- runWeb(ctx, env, "", io.Discard, log, "--config", cfg, "web") }()
	base := log.await(t, listeningURL)
	stop := func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("outreach web did not stop")
			return -1
		}
	}
	t.Cleanup(func() { cancel() })
	return base, log, stop
}

func TestWebPasswdThenServe(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cfg := writeFile(t, "outreach.toml", "[web]\nlisten = \"127.0.0.1:0\"\n")
	var out, errb bytes.Buffer
	if code := runWeb(context.Background(), env, "short\n", &out, &errb, "--config", cfg, "web", "passwd"); code != exitInvalid ||
		!strings.Contains(errb.String(), "at least 8 characters") {
		t.Fatalf("a short password: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := runWeb(context.Background(), env, "a long enough passphrase\n", &out, &errb, "--config", cfg, "web", "passwd"); code != 0 ||
		!strings.Contains(out.String(), "password set") {
		t.Fatalf("passwd: exit %d: %s %s", code, out.String(), errb.String())
	}
	base, log, stop := serveWeb(t, env, cfg)
	resp, err := http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<label for="secret">Password</label>`) {
		t.Errorf("login page: %d\n%s", resp.StatusCode, body)
	}
	if code := stop(); code != 0 {
		t.Errorf("outreach web after Ctrl-C: exit %d\n%s", code, log)
	}
	if strings.Contains(log.String(), "token=") {
		t.Errorf("a login link was printed although a password is set:\n%s", log)
	}
}

var loginLink = regexp.MustCompile(`link="?(http://[^\s"]+/login\?token=[^\s"]+)`)

// Without a password, the start-up log has a one-time login link.
func TestWebOneTimeLoginLink(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cfg := writeFile(t, "outreach.toml", "[web]\nlisten = \"127.0.0.1:0\"\n")
	base, log, stop := serveWeb(t, env, cfg)
	link := log.await(t, loginLink)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(page))
	token := regexp.MustCompile(`id="secret"[^>]* value="([^"]+)"`).FindStringSubmatch(string(page))
	if csrf == nil || token == nil {
		t.Fatalf("login page from the link:\n%s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"csrf": {csrf[1]}, "secret": {token[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login with the link's code: %d", resp.StatusCode)
	}
	if resp, err := c.Get(base + "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Today after login: %v %v", resp, err)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestWebConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, toml string
		code       int
		want       string
	}{
		{"default", "", 0, `listen = '127.0.0.1:8025'`},
		{"all interfaces", "[web]\nlisten = \"0.0.0.0:8025\"\n", exitInvalid, "web.listen"},
		{"remote allowed", "[web]\nlisten = \"0.0.0.0:8025\"\nallow_remote = true\n", 0, "allow_remote = true"},
		{"no port", "[web]\nlisten = \"localhost\"\n", exitInvalid, "want HOST:PORT"},
		{"misspelt", "[web]\nlistn = \"127.0.0.1:1\"\n", exitInvalid, `did you mean "listen"`},
	} {
		r := cli(t, map[string]string{"HOME": t.TempDir()}, "", "--config", writeFile(t, "outreach.toml", c.toml), "config", "check")
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s%s", c.name, r.code, c.code, c.want, r.stdout, r.stderr)
		}
	}
}
