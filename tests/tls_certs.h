/*
 * A throwaway CA and certificates for the TLS tests, made with the openssl
 * command in a new folder under /tmp: ca signs node, peer and old (expired
 * in 2020), other signs stranger; each NAME.pem has its NAME.key.
 */
#ifndef ACTOR_TESTS_TLS_CERTS_H
#define ACTOR_TESTS_TLS_CERTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tls_certs_script[] =
	"set -e\n"
	"ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
	"ca() { openssl req -x509 $ec -keyout $1.key -out $1.pem -days 2 -subj /CN=$1; }\n"
	"csr() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$1; }\n"
	"leaf() { csr $1; openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key"
	" -CAcreateserial -days 2 -out $1.pem; }\n"
	"ca ca; ca other; leaf node ca; leaf peer ca; leaf stranger other; csr old\n"
	": > index.txt; echo 01 > serial\n"
	"printf '[ca]\\ndefault_ca=c\\n[c]\\ndatabase=index.txt\\nnew_certs_dir=.\\n"
	"serial=serial\\ndefault_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf\n"
	"openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in old.csr -out old.pem"
	" -startdate 20200101000000Z -enddate 20200102000000Z -notext\n";

/* Whether the openssl command runs here (the aarch64 leg may lack it). */
static inline bool tls_certs_possible(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

/* Makes the folder (its name into dir, at least 32 bytes) and the
 * certificates in it: 0, or -1 (the folder's make-certs.log says why). */
static inline int tls_certs_make(char *dir)
{
	char cmd[256];
	FILE *f;

	strcpy(dir, "/tmp/actor-tls-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof cmd, "%s/make-certs", dir);
	if ((f = fopen(cmd, "w")) == NULL)
		return -1;
	fputs(tls_certs_script, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "cd %s && sh make-certs >make-certs.log 2>&1", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static inline void tls_certs_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
}

#endif
