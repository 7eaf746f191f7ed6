/*
 * dn.c - canonical DNs and subtree membership (see dn.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "dn.h"

char   *
dn_normalize(const char *in)
{
    LDAPDN  dn = NULL;
    char   *out = NULL, *copy;

    if (in == NULL || ldap_str2dn(in, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
	return (NULL);
    if (dn == NULL)				/* "": the root DSE */
	return (NULL);
    if (ldap_dn2str(dn, &out, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS || out == NULL) {
	ldap_dnfree(dn);
	return (NULL);
    }
    ldap_dnfree(dn);
    copy = strdup(out);				/* free(), not ldap_memfree() */
    ldap_memfree(out);
    return (copy);
}

/*
 * A DN whose RDNs are its comma-separated parts, as written: no escapes,
 * no quotes, no multi-valued RDNs, no ';' separators, no spaces around
 * a separator or at either end.  Sets *nrdn to the number of RDNs.
 */
static int
plain_dn(const char *s, size_t *nrdn)
{
    size_t  n = 1;
    const char *p;

    if (*s == 0 || *s == ' ')
	return (0);
    for (p = s; *p; p++) {
	switch (*p) {
	case '\\': case '"': case '+': case ';': case '#': case '<': case '>':
	    return (0);
	case ',':
	    n++;
	    /* FALLTHROUGH */
	case '=':
	    if (p[1] == ' ' || p[1] == 0 || (p > s && p[-1] == ' '))
		return (0);
	    break;
	}
    }
    if (p[-1] == ' ')
	return (0);
    *nrdn = n;
    return (1);
}

static int
bv_caseeq(const struct berval *a, const struct berval *b)
{
    return (a->bv_len == b->bv_len && strncasecmp(a->bv_val, b->bv_val, a->bv_len) == 0);
}

static int
rdn_eq(LDAPRDN a, LDAPRDN b)
{
    size_t  i;

    for (i = 0; a[i] && b[i]; i++) {
	if (!bv_caseeq(&a[i]->la_attr, &b[i]->la_attr))
	    return (0);
	if ((a[i]->la_flags & LDAP_AVA_BINARY) != (b[i]->la_flags & LDAP_AVA_BINARY))
	    return (0);
	if (a[i]->la_flags & LDAP_AVA_BINARY) {
	    if (a[i]->la_value.bv_len != b[i]->la_value.bv_len
		|| memcmp(a[i]->la_value.bv_val, b[i]->la_value.bv_val,
			  a[i]->la_value.bv_len) != 0)
		return (0);
	} else if (!bv_caseeq(&a[i]->la_value, &b[i]->la_value))
	    return (0);
    }
    return (a[i] == NULL && b[i] == NULL);
}

int
dn_within(const char *dn, const char *base)
{
    LDAPDN  d = NULL, b = NULL;
    size_t  nd, nb, dl, bl, i;
    int     ret = 0;

    if (plain_dn(dn, &nd) && plain_dn(base, &nb)) {
	dl = strlen(dn);
	bl = strlen(base);
	if (nb > nd || bl > dl || strcasecmp(dn + dl - bl, base) != 0)
	    return (0);
	return (bl == dl || dn[dl - bl - 1] == ',' ? (int) nb : 0);
    }
    if (ldap_str2dn(dn, &d, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS
	|| ldap_str2dn(base, &b, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS
	|| d == NULL || b == NULL)
	goto out;
    for (nd = 0; d[nd]; nd++)
	;
    for (nb = 0; b[nb]; nb++)
	;
    if (nb > nd)
	goto out;
    for (i = 0; i < nb; i++)
	if (!rdn_eq(d[nd - nb + i], b[i]))
	    goto out;
    ret = (int) nb;
out:
    ldap_dnfree(d);
    ldap_dnfree(b);
    return (ret);
}
