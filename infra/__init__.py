"""CDK constructs and the stack. Infrastructure only: no runtime code lives here."""
