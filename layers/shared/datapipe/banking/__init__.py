"""Banking end of day: balances per account and business day, interest, reconciliation, and the
business calendar the regulatory reports run on (see ``service`` for the run, ``ledger`` for the
formulas, ``calendar`` for business days, ``reconcile`` for the checks)."""
