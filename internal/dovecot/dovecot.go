// Package dovecot runs a throwaway Dovecot IMAP server for integration
// tests: its own configuration file, loopback only, plaintext login (and
// TLS with a given certificate, on request), one user with INBOX and a
// \Sent mailbox (RFC 6154) in Maildir under a temporary directory.
// Debian's dovecot-imapd provides the binary; the system's /etc/dovecot is
// never read or touched.
package dovecot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// User and Password log in to every server this package starts.
const (
	User     = "applicant"
	Password = "secret"
)

// Server is a running Dovecot, a child of this process.
type Server struct {
	Host    string
	Port    int // IMAP; offers STARTTLS when TLS is on
	TLSPort int // implicit TLS (IMAPS), when TLS is on

	tls bool

	dir     string
	mailDir string
	conf    string
	cmd     *exec.Cmd
	done    chan struct{}
	seq     int
}

// Options configure StartWith.
type Options struct {
	// CertPEM and KeyPEM (PKCS #8), when set, turn TLS on: STARTTLS on
	// Port, implicit TLS on TLSPort.
	CertPEM, KeyPEM []byte
}

// ForTest starts a server without TLS for one test, in a directory of the
// test's, stops it when the test ends, and fails the test when it cannot
// start (within a minute).
func ForTest(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// Start writes a configuration into dir and starts Dovecot on a free
// loopback port, without TLS. It fails with a message naming the package
// to install when Dovecot is missing.
func Start(ctx context.Context, dir string) (*Server, error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, dir string, opts Options) (*Server, error) {
	if _, err := exec.LookPath("dovecot"); err != nil {
		return nil, errors.New("dovecot not found: install it with apt-get install -y dovecot-imapd (scripts/test does)")
	}
	s := &Server{Host: "127.0.0.1", dir: dir, mailDir: filepath.Join(dir, "mail"), conf: filepath.Join(dir, "dovecot.conf")}
	if err := s.layout(); err != nil {
		return nil, err
	}
	if opts.CertPEM != nil {
		s.tls = true
		if err := os.WriteFile(filepath.Join(dir, "cert.pem"), opts.CertPEM, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "key.pem"), opts.KeyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	if err := s.Restart(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Restart starts the server again after Kill, on the same port when it is
// still free (a new one otherwise), with the same mail.
func (s *Server) Restart(ctx context.Context) error {
	if s.Port == 0 || !portFree(s.Port) {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.Port = p
	}
	if s.tls && (s.TLSPort == 0 || !portFree(s.TLSPort)) {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.TLSPort = p
	}
	if err := s.writeConfig(); err != nil {
		return err
	}
	cmd := exec.Command("dovecot", "-F", "-c", s.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dovecot: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s.waitListening(ctx, &out)
}

// Kill stops the server at once, as a crash would: the whole process group
// (master, login and imap processes) gets SIGKILL, and open connections drop.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	// Children re-parented away from the group may linger briefly; the
	// master's pid file and sockets are what a restart needs gone.
	_ = os.RemoveAll(filepath.Join(s.dir, "run"))
}

// Stop shuts the server down.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Kill()
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// MailDir is the user's Maildir root (INBOX and Sent below it).
func (s *Server) MailDir() string { return filepath.Join(s.mailDir, User) }

func (s *Server) layout() error {
	for _, d := range []string{"run", "log", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return err
	}
	if err := openAncestors(s.dir); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// Mail processes run as nobody: hand them the mail directory.
		u, err := user.Lookup("nobody")
		if err != nil {
			return err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return os.Chown(s.mailDir, uid, gid)
	}
	return nil
}

var confTemplate = template.Must(template.New("conf").Parse(`# Written by internal/dovecot for a test; not /etc/dovecot.
instance_name = outreach-test-{{.Port}}
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
listen = 127.0.0.1
protocols = imap
{{if .TLS}}ssl = yes
ssl_cert = <{{.Dir}}/cert.pem
ssl_key = <{{.Dir}}/key.pem
{{else}}ssl = no
{{end}}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {{.Internal}}
default_internal_group = {{.InternalGroup}}
default_login_user = {{.Login}}
log_path = {{.Dir}}/log/dovecot.log
mail_location = maildir:{{.Mail}}/%u:LAYOUT=fs:INBOX={{.Mail}}/%u/INBOX
mail_uid = {{.MailUser}}
mail_gid = {{.MailGroup}}
first_valid_uid = 1
first_valid_gid = 1
mail_max_userip_connections = 64
imap_idle_notify_interval = 1 secs
passdb {
  driver = static
  args = password={{.Password}}
}
userdb {
  driver = static
  args = uid={{.MailUser}} gid={{.MailGroup}} home={{.Mail}}/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = {{.TLSPort}}
    ssl = yes
  }
}
`))

func (s *Server) writeConfig() error {
	v := map[string]any{"Port": s.Port, "TLSPort": s.TLSPort, "TLS": s.tls, "Dir": s.dir, "Mail": s.mailDir,
		"Password": Password}
	if os.Geteuid() == 0 {
		v["MailUser"], v["MailGroup"], v["Internal"], v["InternalGroup"], v["Login"] = "nobody", "nogroup", "dovecot", "dovecot", "dovenull"
	} else {
		u, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return err
		}
		v["MailUser"], v["MailGroup"], v["Internal"], v["InternalGroup"], v["Login"] = u.Username, g.Name, u.Username, g.Name, u.Username
	}
	var b bytes.Buffer
	if err := confTemplate.Execute(&b, v); err != nil {
		return err
	}
	return os.WriteFile(s.conf, b.Bytes(), 0o644)
}

func (s *Server) waitListening(ctx context.Context, out *bytes.Buffer) error {
	deadline := time.Now().Add(15 * time.Second)
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "log", "dovecot.log"))
			return fmt.Errorf("dovecot exited during start-up:\n%s%s", out.String(), log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("dovecot not listening on %s within 15s", addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Deliver writes messages straight into a mailbox's Maildir, as a local
// delivery agent would: fast enough for tens of thousands of messages.
// Dovecot notices them at the next SELECT or IDLE wake-up. mailbox is
// "INBOX" or "Sent".
func (s *Server) Deliver(mailbox string, msgs ...[]byte) error {
	dir := filepath.Join(s.MailDir(), mailbox)
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		s.seq++
		name := fmt.Sprintf("%d.M%dP%d.outreach-test", time.Now().Unix(), s.seq, i)
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, m, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			return err
		}
	}
	return s.chownMail()
}

// ResetUIDValidity makes Dovecot forget a mailbox's UIDs, as a server
// migration or a rebuilt index does: the next SELECT reports UIDVALIDITY
// uidValidity and numbers the same messages afresh from 1. The server must
// be stopped (Kill) first and restarted after.
func (s *Server) ResetUIDValidity(mailbox string, uidValidity uint32) error {
	dir := filepath.Join(s.MailDir(), mailbox)
	matches, _ := filepath.Glob(filepath.Join(dir, "dovecot*"))
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			return err
		}
	}
	// A uidlist header of version 3 with no entries: V is UIDVALIDITY, N the next UID.
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(fmt.Sprintf("3 V%d N1\n", uidValidity)), 0o644); err != nil {
		return err
	}
	return s.chownMail()
}

// openAncestors lets the unprivileged mail processes walk down to dir: a
// test's temporary directory sits in a parent created with mode 0700. Only
// directories this process owns are changed, and only by adding o+x.
func openAncestors(dir string) error {
	uid := os.Geteuid()
	for d := filepath.Dir(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 != 0 {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != uid {
			return fmt.Errorf("dovecot: mail processes cannot enter %s (mode %v); use a directory they can reach", d, fi.Mode().Perm())
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) chownMail() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(s.mailDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
