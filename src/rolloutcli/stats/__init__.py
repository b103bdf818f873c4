"""Pure statistics that know no plan: fixed-horizon tests, sequential tests, dispersion,
sizing. Numbers in, numbers out."""
