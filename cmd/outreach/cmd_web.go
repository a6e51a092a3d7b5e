package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/templates"
	"github.com/outreach/outreach/web"
)

func (a *app) webCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "web [--listen HOST:PORT]",
		Short: "Serve the approval page in your browser (http://127.0.0.1:8025 by default)",
		Long: `Serve the local web page: today's drafts waiting for approval, replies since
your last visit, every thread with its history, contacts and the policy in
effect. It listens on [web] listen (default 127.0.0.1:8025), only on this
machine unless [web] allow_remote = true. Stop it with Ctrl-C.

Log in with the password set by "outreach web passwd". Without one, a one-time
login link is printed at start-up (and a new one each time one is used).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			p, err := a.planner(st)
			if err != nil {
				return err
			}
			srv, err := a.webServer(st, p, slog.New(slog.NewTextHandler(a.stderr, nil)), nil)
			if err != nil {
				return err
			}
			if listen == "" {
				listen = a.cfg.Web.Listen
			}
			return srv.ListenAndServe(cmd.Context(), listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "HOST:PORT to listen on (default: [web] listen)")
	cmd.AddCommand(a.webPasswdCommand())
	return cmd
}

// webServer builds the page from this invocation's configuration; the
// daemon (outreach run) mounts the same.
func (a *app) webServer(st *store.Store, p *daemon.Planner, log *slog.Logger, mount map[string]http.Handler) (*web.Server, error) {
	return web.New(web.Config{Store: st, Planner: p, Policy: a.cfg.Policy, Profile: templates.Profile(a.cfg.Profile),
		FollowUpTemplate: a.cfg.Templates.FollowUp, AllowRemote: a.cfg.Web.AllowRemote, Now: a.now, Log: log,
		Mount: mount})
}

func (a *app) webPasswdCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd",
		Short: "Set the password of the web page",
		Long: `Set the password of the web page, asked twice without echo on a terminal, or
read as the first line of standard input otherwise (for scripts). Only a
bcrypt hash is stored, in the database; setting it logs out every browser.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			password, err := a.readNewPassword()
			if err != nil {
				return err
			}
			hash, err := web.HashPassword(password)
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			if err := st.SetWebPassword(cmd.Context(), web.LoginName, hash); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "password set; browsers that were logged in must log in again")
			return nil
		},
	}
}

// readNewPassword asks twice on a terminal, without echo; otherwise it
// reads one line of standard input.
func (a *app) readNewPassword() (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := a.askPassword(f, "New password for the web page: ")
		if err != nil {
			return "", err
		}
		again, err := a.askPassword(f, "The same password again: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", outreach.Errorf(outreach.KindInvalid, "the two passwords differ; nothing was changed")
		}
		return first, nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", outreach.Errorf(outreach.KindInvalid, "read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", outreach.Errorf(outreach.KindInvalid, "no password on standard input")
	}
	return line, nil
}

func (a *app) askPassword(f *os.File, prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", outreach.Errorf(outreach.KindInvalid, "read the password: %w", err)
	}
	return string(b), nil
}
