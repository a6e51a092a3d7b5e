package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/pglocal"
	"github.com/outreach/outreach/store"
)

// ioEnv is the process's world: streams and environment, injected so that
// tests run the CLI in-process.
type ioEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// app is one invocation of the CLI: flags, the loaded configuration, and the
// store once a command opens it.
type app struct {
	ioEnv
	configFlag string
	jsonOut    bool
	now        func() time.Time

	cfg   *Config
	store *store.Store
	// readyHook, when set, hears the web address once `run` is up (tests).
	readyHook func(webURL string)
	// sentHook, when set, hears about every run of `run`'s sender (tests).
	sentHook func()
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, env ioEnv) int {
	return runApp(ctx, &app{ioEnv: env, now: time.Now}, args)
}

// runApp executes one command line with a prepared app (tests set its clock).
func runApp(ctx context.Context, a *app, args []string) int {
	env := a.ioEnv
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	err := root.ExecuteContext(ctx)
	if a.store != nil {
		a.store.Close()
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(env.stderr, "outreach:", err)
	return exitCode(err)
}

// Exit codes, one per error kind, so that scripts can tell them apart.
const (
	exitInternal    = 1
	exitInvalid     = 2 // bad input, a bad flag, a bad config file
	exitNotFound    = 3
	exitConflict    = 4
	exitSchema      = 5 // run `outreach migrate`, or upgrade outreach
	exitUnavailable = 6 // a server could not be reached
)

func exitCode(err error) int {
	var usage usageError
	if errors.As(err, &usage) {
		return exitInvalid
	}
	switch outreach.KindOf(err) {
	case outreach.KindInvalid:
		return exitInvalid
	case outreach.KindNotFound:
		return exitNotFound
	case outreach.KindConflict:
		return exitConflict
	case outreach.KindSchema:
		return exitSchema
	case outreach.KindUnavailable:
		return exitUnavailable
	}
	return exitInternal
}

// usageError is a mistake on the command line itself.
type usageError struct{ error }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "outreach",
		Short: "Outreach: one courteous follow-up, then stop",
		Long: `Outreach helps medical graduates applying for residency keep their faculty
outreach courteous: it watches the mailbox, tells replies from out-of-office
notes and bounces, and proposes at most one follow-up per conversation, which
is sent only after you approve it.

Configuration is read from --config, else ./outreach.toml, else
$XDG_CONFIG_HOME/outreach/config.toml. The database is database_url,
OUTREACH_DATABASE_URL or DATABASE_URL; without any, outreach runs a private
PostgreSQL of its own (see "outreach db --help").`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().StringVar(&a.configFlag, "config", "", "configuration file (TOML)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.configCommand(), a.migrateCommand(), a.contactsCommand(), a.classifyCommand(),
		a.syncCommand(), a.statusCommand(), a.explainCommand(), a.tickCommand(), a.agendaCommand(),
		a.threadsCommand(), a.draftsCommand(), a.templatesCommand(), a.sendCommand(), a.webCommand(), a.runCommand(), a.demoCommand(),
		a.dbCommand())
	markUsageErrors(root)
	return root
}

// markUsageErrors makes a wrong number of arguments a usage error (exit 2),
// like a bad flag.
func markUsageErrors(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markUsageErrors(sub)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// addJSONFlag gives a listing command its --json flag.
func (a *app) addJSONFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&a.jsonOut, "json", false, "print one JSON object per line, for scripts")
}

// loadConfig reads the configuration once per invocation.
func (a *app) loadConfig() (*Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	path, err := findConfig(a.configFlag, a.getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(path, a.getenv)
	if err != nil {
		return nil, err
	}
	a.cfg = cfg
	return cfg, nil
}

// openStore connects to the database and, unless forMigrate, refuses a
// schema that is behind or ahead of this binary.
func (a *app) openStore(ctx context.Context, forMigrate bool) (*store.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	url := cfg.dbURL.value
	fresh := false
	if url == "" {
		if url, fresh, err = a.localDatabase(ctx); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, url, store.Options{Now: a.now})
	if err != nil {
		return nil, err
	}
	a.store = st
	if fresh {
		// A database outreach just created for itself has nothing to lose.
		if _, err := st.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	if !forMigrate {
		if err := st.CheckSchema(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// dataDir is where outreach keeps its own files, such as the local database.
func (a *app) dataDir() string {
	if d := a.getenv("OUTREACH_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		// PostgreSQL runs as the postgres user, who cannot enter /root.
		return "/var/lib/outreach"
	}
	if d := a.getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "outreach")
	}
	return filepath.Join(a.getenv("HOME"), ".local", "share", "outreach")
}

func (a *app) localClusterDir() string { return filepath.Join(a.dataDir(), "postgres") }

// localDatabase starts (or finds) outreach's own PostgreSQL and returns the
// URL of its "outreach" database, and whether that database is new.
func (a *app) localDatabase(ctx context.Context) (url string, fresh bool, err error) {
	dir := a.localClusterDir()
	started, err := pglocal.EnsureDetached(ctx, dir)
	if err != nil {
		return "", false, outreach.Errorf(outreach.KindUnavailable,
			"no database configured and the local one did not start: %w", err)
	}
	if started {
		fmt.Fprintf(a.stderr, "outreach: started the local database in %s (stop it with `outreach db stop`)\n", dir)
	}
	fresh, err = store.CreateDatabase(ctx, pglocal.URLFor(dir, "postgres"), "outreach")
	if err != nil {
		return "", false, err
	}
	return pglocal.URLFor(dir, "outreach"), fresh, nil
}

// printJSON writes one JSON object on one line.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// isTerminal reports whether w is a terminal, for progress output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
