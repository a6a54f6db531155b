package netns

// Option configures a Net at creation.
type Option func(*config)

type config struct {
	rootLink bool
}

// WithRootLink plugs the root network namespace into the switch with its own
// veth, addressed as the first address of the subnet (Net.RootIP), so
// processes on the machine itself, such as a hub under test, and the hosts
// can reach each other. This adds one connected route for the test subnet
// to the root namespace; nothing else in its routing changes.
func WithRootLink() Option {
	return func(c *config) { c.rootLink = true }
}
