#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <actor/actor.h>

Test(version, header_library_and_package_agree)
{
	char hdr[32];

	snprintf(hdr, sizeof hdr, "%d.%d.%d", ACTOR_VERSION_MAJOR, ACTOR_VERSION_MINOR,
		 ACTOR_VERSION_PATCH);
	cr_assert_str_eq(actor_version_string(), PACKAGE_VERSION);
	cr_assert_str_eq(hdr, PACKAGE_VERSION, "include/actor/version.h matches configure.ac");
	cr_assert_eq(actor_version(), ACTOR_VERSION_HEX);
}
