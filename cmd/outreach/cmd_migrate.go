package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to this version of outreach",
		Long: `Apply every schema migration this outreach carries that the database lacks.
Running it again changes nothing. Every other command refuses to run on a
database whose schema is behind or ahead of the binary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			applied, err := st.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			v, err := st.Schema(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"applied": applied, "version": v.Current})
			}
			if len(applied) == 0 {
				fmt.Fprintf(a.stdout, "schema is current (version %d): nothing to do\n", v.Current)
				return nil
			}
			fmt.Fprintf(a.stdout, "applied %s %v: schema is at version %d\n",
				plural(len(applied), "migration"), applied, v.Current)
			return nil
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}
