package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/outreach/outreach/pglocal"
)

func (a *app) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage outreach's own PostgreSQL (used when no database is configured)",
		Long: `When no database URL is configured (database_url, OUTREACH_DATABASE_URL,
DATABASE_URL), outreach creates a PostgreSQL cluster of its own in
$OUTREACH_DATA_DIR/postgres (default: $XDG_DATA_HOME/outreach/postgres, or
/var/lib/outreach/postgres as root) and starts it in the background the first
time a command needs it. It listens only on a Unix socket in that directory.`,
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether the local database is running, and where",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := a.localClusterDir()
			running := pglocal.Running(dir)
			if a.jsonOut {
				return a.printJSON(map[string]any{"dir": dir, "running": running,
					"url": pglocal.URLFor(dir, "outreach")})
			}
			state := "stopped"
			if running {
				state = "running"
			}
			fmt.Fprintf(a.stdout, "local database %s in %s\nurl: %s\n", state, dir, pglocal.URLFor(dir, "outreach"))
			return nil
		},
	}
	a.addJSONFlag(status)
	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the local database (it starts again when a command needs it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stopped, err := pglocal.StopDetached(cmd.Context(), a.localClusterDir())
			if err != nil {
				return err
			}
			if stopped {
				fmt.Fprintln(a.stdout, "stopped the local database")
			} else {
				fmt.Fprintln(a.stdout, "the local database was not running")
			}
			return nil
		},
	}
	cmd.AddCommand(status, stop)
	return cmd
}
