// Package demo builds the world of `outreach demo`: a database of its own
// (a private PostgreSQL, or a fresh database on a server the user names),
// go-imap's in-memory IMAP server holding a seeded story, an SMTP server
// that catches what is sent, and the configuration file that points
// outreach at them. An applicant wrote to a dozen faculty over the past
// weeks; the replies, the out-of-office, the bounce and the silences are
// in the mailboxes, and the daemon (started by package main) must make of
// them what the story says.
//
// It never touches the applicant's own database, mailboxes or files: all
// it makes lives in a temporary directory and in memory, and Close
// removes it. Package main wires it; nothing else imports it.
package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/contactcsv"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/web"
)

// Options configure Start.
type Options struct {
	// Now is the demo's clock [time.Now]; the story is dated back from its
	// reading at Start, and injected replies are dated by it.
	Now func() time.Time
	// ServerURL is a PostgreSQL server on which the demo creates (and on
	// Close drops) a database of its own; "" starts a private PostgreSQL.
	ServerURL string
	// WebListen is the page's HOST:PORT ([web] listen) [127.0.0.1:0].
	WebListen string
	// StatePath is where `outreach demo reply` finds the running demo
	// [DefaultStatePath].
	StatePath string
	// OnCatch, when set, hears of each message the SMTP server catches.
	OnCatch func(Caught)
}

// Demo is a running demo world.
type Demo struct {
	Story       Story
	Dir         string // the temporary directory: configuration, database
	ConfigPath  string
	DatabaseURL string
	Private     bool // the database is a private PostgreSQL in Dir
	IMAPAddr    string
	SMTPAddr    string
	// WebPassword logs in to the web page, which the demo sets for the
	// applicant (a demo has no secret worth a one-time link).
	WebPassword string
	StatePath   string

	now     func() time.Time
	db      *database
	st      *store.Store
	imap    *mailServer
	smtp    *catcher
	closers []func() error // in the order of creation; Close runs them backwards
}

// Start builds the world: directory, database (migrated, with the
// contacts and the web password), IMAP server with the story, SMTP
// catcher, configuration file and state file. On error, what was built is
// taken down again.
func Start(ctx context.Context, opts Options) (_ *Demo, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WebListen == "" {
		opts.WebListen = "127.0.0.1:0"
	}
	d := &Demo{now: opts.Now, StatePath: opts.StatePath, Private: opts.ServerURL == ""}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
		}
	}()
	if err := d.claimState(); err != nil {
		return nil, err
	}
	if d.Story, err = NewStory(opts.Now()); err != nil {
		return nil, err
	}
	if err := d.makeDir(); err != nil {
		return nil, err
	}
	if err := d.openStore(ctx, opts.ServerURL); err != nil {
		return nil, err
	}
	if err := d.seedStore(ctx); err != nil {
		return nil, err
	}
	if err := d.startServers(opts.OnCatch); err != nil {
		return nil, err
	}
	if err := d.writeConfig(opts.WebListen); err != nil {
		return nil, err
	}
	return d, d.writeState()
}

// Close stops the servers and removes the database, the directory and
// the state file. It is safe to call more than once.
func (d *Demo) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

func (d *Demo) onClose(fn func() error) { d.closers = append(d.closers, fn) }

// makeDir creates the demo's directory. PostgreSQL, which runs as the
// postgres user when we are root, must be able to pass through it.
func (d *Demo) makeDir() error {
	dir, err := os.MkdirTemp("", "outreach-demo-")
	if err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	d.Dir = dir
	d.onClose(func() error { return os.RemoveAll(dir) })
	return os.Chmod(dir, 0o711)
}

func (d *Demo) openStore(ctx context.Context, serverURL string) error {
	db, err := openDatabase(ctx, serverURL, d.Dir)
	if err != nil {
		return err
	}
	d.db, d.DatabaseURL = db, db.url
	d.onClose(db.close)
	st, err := store.Open(ctx, db.url, store.Options{Now: d.now, MaxOpenConns: 2})
	if err != nil {
		return err
	}
	d.st = st
	d.onClose(st.Close)
	_, err = st.Migrate(ctx)
	return err
}

// seedStore imports the faculty as contacts, through the CSV reader the
// CLI uses, and sets the web page's password.
func (d *Demo) seedStore(ctx context.Context) error {
	f, err := contactcsv.Parse(bytes.NewReader(d.Story.ContactsCSV()))
	if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		return fmt.Errorf("the story's contacts: line %d: %s", f.Errors[0].Line, f.Errors[0].Reason)
	}
	if _, err := d.st.ImportContacts(ctx, store.ImportRequest{Columns: f.Columns, Rows: f.Rows}); err != nil {
		return fmt.Errorf("import the story's contacts: %w", err)
	}
	d.WebPassword = "demo-" + randomHex(6)
	hash, err := web.HashPassword(d.WebPassword)
	if err != nil {
		return err
	}
	return d.st.SetWebPassword(ctx, web.LoginName, hash)
}

// ContactsCSV is the faculty as `outreach contacts import` reads them;
// paper is an extra column, which the follow-up template quotes.
func (s Story) ContactsCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"email", "first_name", "last_name", "title", "institution", "timezone", "paper"})
	for _, f := range s.Faculty {
		_ = w.Write([]string{f.Email, f.FirstName, f.LastName, f.Title, f.Institution, f.Timezone, f.Paper})
	}
	w.Flush()
	return b.Bytes()
}

func (d *Demo) startServers(onCatch func(Caught)) error {
	imapSrv, err := startIMAP()
	if err != nil {
		return err
	}
	d.imap, d.IMAPAddr = imapSrv, imapSrv.addr.String()
	d.onClose(func() error { imapSrv.close(); return nil })
	if err := imapSrv.put(d.Story.Mail); err != nil {
		return err
	}
	smtpSrv, err := startSMTP(onCatch)
	if err != nil {
		return err
	}
	d.smtp, d.SMTPAddr = smtpSrv, smtpSrv.addr.String()
	d.onClose(func() error { smtpSrv.close(); return nil })
	return nil
}

// Caught returns the messages the SMTP server caught so far.
func (d *Demo) Caught() []Caught { return d.smtp.messages() }

// writeConfig writes the configuration `outreach run` reads: the
// database, the applicant, the page, and one account on the demo's
// servers (plain text on loopback, which the configuration allows).
func (d *Demo) writeConfig(listen string) error {
	a := Applicant
	cfg := fmt.Sprintf(`# The configuration of "outreach demo", written for one run and removed on exit.
database_url = %q

[profile]
name = %q
position = %q
institution = %q
country = %q
signature = """
%s, MBBS
ERAS applicant, urology"""

[web]
listen = %q

[[accounts]]
name = "demo"
email = %q
display_name = %q
timezone = %q
sent_copy = "append"

[accounts.imap]
host = "127.0.0.1"
port = %d
security = "none"
password = %q

[accounts.smtp]
host = "127.0.0.1"
port = %d
security = "none"
password = %q
`, d.DatabaseURL, a.Name, a.Position, a.Institution, a.Country, a.Name, listen, a.Email, a.Name, a.Timezone,
		d.imap.addr.Port, Password, d.smtp.addr.Port, Password)
	d.ConfigPath = filepath.Join(d.Dir, "outreach.toml")
	return os.WriteFile(d.ConfigPath, []byte(cfg), 0o600)
}

// State is what a running demo tells `outreach demo reply`: where its
// IMAP server is, its clock, and the story's conversations.
type State struct {
	PID         int           `json:"pid"`
	Dir         string        `json:"dir"`
	DatabaseURL string        `json:"database_url"`
	IMAPHost    string        `json:"imap_host"`
	IMAPPort    int           `json:"imap_port"`
	SMTPPort    int           `json:"smtp_port"`
	Username    string        `json:"username"`
	Password    string        `json:"password"`
	ClockOffset time.Duration `json:"clock_offset_ns"` // the demo's clock minus the real one
	Faculty     []Faculty     `json:"faculty"`
}

// DefaultStatePath is $XDG_RUNTIME_DIR/outreach-demo.json, else the same
// name in the temporary directory.
func DefaultStatePath(getenv func(string) string) string {
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "outreach-demo.json")
	}
	return filepath.Join(os.TempDir(), "outreach-demo.json")
}

// claimState refuses to start while another demo announces itself at the
// same path; a state file whose process is gone is stale and replaced.
func (d *Demo) claimState() error {
	if d.StatePath == "" {
		d.StatePath = DefaultStatePath(os.Getenv)
	}
	st, err := ReadState(d.StatePath)
	if err == nil && processAlive(st.PID) {
		return outreach.Errorf(outreach.KindConflict, "a demo is already running (process %d, %s): "+
			"stop it with Ctrl-C, or give this one another --state", st.PID, d.StatePath)
	}
	return nil
}

func (d *Demo) writeState() error {
	st := State{PID: os.Getpid(), Dir: d.Dir, DatabaseURL: d.DatabaseURL, IMAPHost: d.imap.addr.IP.String(), IMAPPort: d.imap.addr.Port,
		SMTPPort: d.smtp.addr.Port, Username: Applicant.Email, Password: Password,
		ClockOffset: d.now().Sub(time.Now()), Faculty: d.Story.Faculty}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.StatePath, b, 0o600); err != nil {
		return fmt.Errorf("demo state file: %w", err)
	}
	path := d.StatePath
	d.onClose(func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
	return nil
}

// ReadState reads a running demo's state file.
func ReadState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, outreach.Errorf(outreach.KindNotFound, "no demo is running (%s does not exist): start one with \"outreach demo\"", path)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("demo state file %s: %w", path, err)
	}
	return st, nil
}

// processAlive reports whether a process with this id exists (signal 0,
// kill(2): EPERM means it exists but is someone else's).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// DatabaseWhere says where the demo's database is, in words.
func (d *Demo) DatabaseWhere() string {
	if d.Private {
		return "a private PostgreSQL in " + filepath.Join(d.Dir, "postgres")
	}
	return "database " + strconv.Quote(d.db.name) + " on the server of DATABASE_URL (dropped on exit)"
}
