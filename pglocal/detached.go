package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// EnsureDetached makes sure a cluster in dir is running as a background
// server that outlives this process (the CLI's default database), starting
// it, and creating it first when dir is empty. It reports whether it started
// the server. The server listens only on a Unix socket in dir.
func EnsureDetached(ctx context.Context, dir string) (started bool, err error) {
	if ready(socketPath(dir)) {
		return false, nil
	}
	bin, err := FindBinDir()
	if err != nil {
		return false, err
	}
	cred, err := serverCredential()
	if err != nil {
		return false, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, bin, dir, cred); err != nil {
			return false, err
		}
	}
	out, err := pgCtl(ctx, bin, cred, "start", "-D", dir, "-w", "-t", "60",
		"-l", filepath.Join(dir, "server.log"),
		"-o", fmt.Sprintf("-k %s -c listen_addresses=''", dir))
	if err != nil {
		// Another outreach may have started it meanwhile.
		if ready(socketPath(dir)) {
			return false, nil
		}
		return false, fmt.Errorf("start the local database in %s: %w\n%s(see %s)", dir, err, out,
			filepath.Join(dir, "server.log"))
	}
	return true, nil
}

// StopDetached stops a background server started by EnsureDetached, and
// reports whether one was running.
func StopDetached(ctx context.Context, dir string) (bool, error) {
	if !ready(socketPath(dir)) {
		return false, nil
	}
	bin, err := FindBinDir()
	if err != nil {
		return false, err
	}
	cred, err := serverCredential()
	if err != nil {
		return false, err
	}
	if out, err := pgCtl(ctx, bin, cred, "stop", "-D", dir, "-m", "fast", "-w"); err != nil {
		return true, fmt.Errorf("stop the local database in %s: %w\n%s", dir, err, out)
	}
	return true, nil
}

// Running reports whether a server accepts sessions on dir's socket.
func Running(dir string) bool { return ready(socketPath(dir)) }

// URLFor is the connection URL of database dbname on the cluster in dir.
func URLFor(dir, dbname string) string { return (&Server{dir: dir}).URL(dbname) }

func socketPath(dir string) string { return filepath.Join(dir, ".s.PGSQL.5432") }

func pgCtl(ctx context.Context, bin string, cred *syscall.Credential, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pg_ctl"), args...)
	// Its own session: a Ctrl-C at the terminal must not reach the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setsid: true}
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
