// Package pglocal runs a private PostgreSQL cluster in a directory of its
// own, listening only on a Unix socket inside that directory. Tests use it so
// that `go test ./...` needs no database of the user's, and `outreach demo`
// uses it the same way. It needs PostgreSQL's server binaries (initdb,
// postgres) and, when run as root, the `postgres` system user: PostgreSQL
// refuses to run as root.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Superuser is the role initdb creates; connections use it.
const Superuser = "outreach"

// Options tune a cluster. The zero value is a durable cluster.
type Options struct {
	// Fast trades durability for speed (fsync off): for tests and demos only.
	Fast bool
	// Log receives the server's output; nil discards it.
	Log *os.File
}

// Server is a running cluster, a child of this process: when this process
// dies, the kernel tells the server to shut down (Linux PR_SET_PDEATHSIG), so
// no test run leaves a server behind.
type Server struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// Start initialises dir as a cluster when it is empty, starts the server and
// waits until it accepts connections.
func Start(ctx context.Context, dir string, opts Options) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, bin, dir, cred); err != nil {
			return nil, err
		}
	}
	s := &Server{dir: dir, done: make(chan error, 1)}
	if err := s.spawn(bin, cred, opts); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Dir is the cluster's data directory, which also holds its socket.
func (s *Server) Dir() string { return s.dir }

// URL is a connection string for database dbname on this server.
func (s *Server) URL(dbname string) string {
	q := url.Values{"host": {s.dir}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User(Superuser), Path: "/" + dbname,
		RawQuery: q.Encode()}).String()
}

// Stop shuts the server down (a fast shutdown: open sessions are rolled back)
// and waits for it to exit.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("postgres in %s did not stop within 30s; killed", s.dir)
	}
}

// FindBinDir returns the directory holding initdb and postgres: the one on
// PATH, else the newest under /usr/lib/postgresql (Debian's layout).
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH " +
		"or under /usr/lib/postgresql; install them with: apt-get install -y postgresql")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// serverCredential is the user the server runs as: ourselves, or the
// postgres system user when we are root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres system user: %w "+
			"(apt-get install -y postgresql creates it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := reachable(filepath.Dir(dir), cred); err != nil {
		return err
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", dir, err)
	}
	return nil
}

// reachable checks that the server's user may enter every directory above
// the cluster: a cluster under /root, say, cannot work.
func reachable(dir string, cred *syscall.Credential) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		canEnter := fi.Mode().Perm()&0o001 != 0 || (ok && st.Uid == cred.Uid && fi.Mode().Perm()&0o100 != 0) ||
			(ok && st.Gid == cred.Gid && fi.Mode().Perm()&0o010 != 0)
		if !canEnter {
			return fmt.Errorf("the postgres user cannot enter %s, so it cannot run a cluster under it; "+
				"choose a directory outside it", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func initdb(ctx context.Context, bin, dir string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--pgdata", dir,
		"--username", Superuser, "--auth", "trust", "--encoding", "UTF8", "--locale", "C",
		"--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", dir, err, out.String())
	}
	return nil
}

func (s *Server) spawn(bin string, cred *syscall.Credential, opts Options) error {
	args := []string{"-D", s.dir, "-k", s.dir, "-c", "listen_addresses=",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB"}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
	// backends down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	cmd.Dir = os.TempDir()
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	go func() { s.done <- cmd.Wait() }()
	return nil
}

// waitReady polls the socket until the server answers a startup message, or
// the server exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	sock := socketPath(s.dir)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(sock) {
			return nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("postgres in %s exited during start-up: %v (see its log)", s.dir, err)
		case <-ctx.Done():
			return fmt.Errorf("postgres in %s: not ready: %w", s.dir, ctx.Err())
		case <-tick.C:
		}
	}
}

// ready reports whether the server accepts a session: the postmaster binds
// its socket before recovery ends, so a successful dial alone is not enough.
func ready(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(startupMessage(Superuser, "postgres")); err != nil {
		return false
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		return false
	}
	return b[0] == 'R' // AuthenticationOk (or a request): the server takes sessions
}

// startupMessage is the protocol 3.0 StartupMessage.
func startupMessage(user, db string) []byte {
	var body bytes.Buffer
	body.Write([]byte{0, 3, 0, 0})
	for _, kv := range [][2]string{{"user", user}, {"database", db}} {
		body.WriteString(kv[0] + "\x00" + kv[1] + "\x00")
	}
	body.WriteByte(0)
	n := body.Len() + 4
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body.Bytes()...)
}
