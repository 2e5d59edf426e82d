"""Code the README shows as it is, kept here so that tests run exactly what readers copy."""
