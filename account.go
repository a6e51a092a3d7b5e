package outreach

// Account is one of the applicant's mailboxes, as the database knows it.
// Connection settings and secrets stay in the configuration file.
type Account struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Timezone    string `json:"timezone"`
}
