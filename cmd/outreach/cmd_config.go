package main

import (
	"fmt"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it, secrets masked",
		Long: `Validate the configuration file, resolve every password source (password,
password_env, password_file or password_cmd) without printing it, and print
the effective configuration with defaults filled in and secrets masked.
Exits with status 2 when anything is wrong, naming the key and its line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.configCheck(cmd) },
	}
	a.addJSONFlag(check)
	cmd.AddCommand(check)
	return cmd
}

// secretCheck says whether one server's password source resolves.
type secretCheck struct {
	Key    string `json:"key"`
	Source string `json:"source"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func (a *app) configCheck(cmd *cobra.Command) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	checks := a.checkSecrets(cmd, cfg)
	shown := cfg.masked()
	if a.jsonOut {
		err = a.printJSON(map[string]any{"file": cfg.path, "database_url_source": cfg.dbURL.source,
			"config": shown, "secrets": checks})
	} else {
		err = a.printConfigText(cfg, shown, checks)
	}
	if err != nil {
		return err
	}
	for _, c := range checks {
		if !c.OK {
			return outreach.Errorf(outreach.KindInvalid, "%s: %s", c.Key, c.Error)
		}
	}
	return nil
}

func (a *app) checkSecrets(cmd *cobra.Command, cfg *Config) []secretCheck {
	checks := []secretCheck{}
	for i, acct := range cfg.Accounts {
		for _, s := range []struct {
			name string
			srv  Server
		}{{"imap", acct.IMAP}, {"smtp", acct.SMTP}} {
			key := fmt.Sprintf("accounts[%d].%s", i, s.name)
			c := secretCheck{Key: key, Source: s.srv.secretSources()[0][0], OK: true}
			if _, err := s.srv.Secret(cmd.Context(), a.getenv); err != nil {
				c.OK, c.Error = false, err.Error()
			}
			checks = append(checks, c)
		}
	}
	return checks
}

// masked is a copy of the configuration that is safe to print.
func (c *Config) masked() Config {
	m := *c
	m.DatabaseURL = maskURL(c.dbURL.value)
	m.Accounts = make([]Account, len(c.Accounts))
	for i, acct := range c.Accounts {
		for _, s := range []*Server{&acct.IMAP, &acct.SMTP} {
			if s.Password != "" {
				s.Password = mask
			}
		}
		m.Accounts[i] = acct
	}
	return m
}

func (a *app) printConfigText(cfg *Config, shown Config, checks []secretCheck) error {
	file := cfg.path
	if file == "" {
		file = "(no configuration file found; defaults)"
	}
	fmt.Fprintf(a.stdout, "# configuration: %s\n", file)
	switch {
	case cfg.dbURL.source != "":
		fmt.Fprintf(a.stdout, "# database_url from %s\n", cfg.dbURL.source)
	default:
		fmt.Fprintf(a.stdout, "# no database_url: outreach runs its own PostgreSQL in %s\n", a.localClusterDir())
	}
	for _, c := range checks {
		status := "resolves"
		if !c.OK {
			status = "FAILS: " + c.Error
		}
		fmt.Fprintf(a.stdout, "# %s password (%s): %s\n", c.Key, c.Source, status)
	}
	b, err := toml.Marshal(shown)
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(b)
	return err
}
