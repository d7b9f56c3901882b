package db

// Role returns the Postgres role, and schema of the same name, a function
// connects as: order's is "orders", each sink's is its own name.
func Role(function string) string {
	if function == "order" {
		return "orders"
	}
	return function
}

// Roles returns the roles of the three functions, for Provision.
func Roles() []string { return []string{Role("order"), Role("shipping"), Role("invoicing")} }
