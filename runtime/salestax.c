/*  =========================================================================
    salestax - Canadian sales taxes by province, in integer cents

    API.md's table (cart section), kept as data: a province is two upper-case
    letters and its taxes are each computed on the whole amount separately.
    =========================================================================
*/
#include "salestax.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *province;
    salestax_t taxes [3];
} s_province_t;

static const s_province_t s_provinces [] = {
    { "QC", { { "GST", 5000 }, { "QST", 9975 }, { NULL, 0 } } },
    { "ON", { { "HST", 13000 }, { NULL, 0 } } },
    { "NS", { { "HST", 15000 }, { NULL, 0 } } },
    { "NB", { { "HST", 15000 }, { NULL, 0 } } },
    { "NL", { { "HST", 15000 }, { NULL, 0 } } },
    { "PE", { { "HST", 15000 }, { NULL, 0 } } },
    { "BC", { { "GST", 5000 }, { "PST", 7000 }, { NULL, 0 } } },
    { "MB", { { "GST", 5000 }, { "PST", 7000 }, { NULL, 0 } } },
    { "SK", { { "GST", 5000 }, { "PST", 6000 }, { NULL, 0 } } },
    { "AB", { { "GST", 5000 }, { NULL, 0 } } },
    { "YT", { { "GST", 5000 }, { NULL, 0 } } },
    { "NT", { { "GST", 5000 }, { NULL, 0 } } },
    { "NU", { { "GST", 5000 }, { NULL, 0 } } },
};

//  --------------------------------------------------------------------------

const salestax_t *
salestax_of (const char *province)
{
    if (!province)
        return NULL;
    for (size_t i = 0; i < sizeof s_provinces / sizeof s_provinces [0]; i++)
        if (streq (s_provinces [i].province, province))
            return s_provinces [i].taxes;
    return NULL;
}

//  --------------------------------------------------------------------------

int64_t
salestax_amount (int64_t amount_cents, int64_t rate)
{
    if (amount_cents <= 0 || rate <= 0)
        return 0;
    __int128 product = (__int128) amount_cents * rate + SALESTAX_RATE_SCALE / 2;
    return (int64_t) (product / SALESTAX_RATE_SCALE);
}

//  --------------------------------------------------------------------------

void
salestax_rate_text (int64_t rate, char *buffer, size_t size)
{
    //  rate per 100,000 is percent * 1000: integer part and three decimals
    int64_t whole = rate / 1000, fraction = rate % 1000;
    if (fraction == 0)
        snprintf (buffer, size, "%lld", (long long) whole);
    else {
        char digits [8];
        snprintf (digits, sizeof digits, "%03lld", (long long) fraction);
        size_t length = strlen (digits);
        while (length > 0 && digits [length - 1] == '0')
            digits [--length] = 0;
        snprintf (buffer, size, "%lld.%s", (long long) whole, digits);
    }
}

//  --------------------------------------------------------------------------

void
salestax_test (bool verbose)
{
    (void) verbose;
    printf (" * salestax: ");
    assert (salestax_amount (10000, 9975) == 998);         //  997.5
    assert (salestax_amount (10000, 5000) == 500);
    assert (salestax_amount (1, 5000) == 0);               //  0.05 cent
    assert (salestax_amount (10, 5000) == 1);              //  0.5 cent rounds up
    assert (salestax_amount (9, 5000) == 0);               //  0.45
    assert (salestax_amount (0, 5000) == 0);
    assert (salestax_amount (-10, 5000) == 0);
    assert (salestax_amount (INT64_MAX / 1000, 15000)
            == (int64_t) (((__int128) (INT64_MAX / 1000) * 15000 + 50000) / 100000));
    char text [24];
    salestax_rate_text (9975, text, sizeof text);
    assert (streq (text, "9.975"));
    salestax_rate_text (5000, text, sizeof text);
    assert (streq (text, "5"));
    salestax_rate_text (13000, text, sizeof text);
    assert (streq (text, "13"));
    salestax_rate_text (7500, text, sizeof text);
    assert (streq (text, "7.5"));
    assert (salestax_of ("qc") == NULL && salestax_of ("XX") == NULL && salestax_of (NULL) == NULL);
    const char *all [] = { "QC", "ON", "NS", "NB", "NL", "PE", "BC", "MB", "SK", "AB", "YT", "NT", "NU" };
    for (size_t i = 0; i < sizeof all / sizeof all [0]; i++)
        assert (salestax_of (all [i]) && salestax_of (all [i])->name);
    assert (streq (salestax_of ("BC") [1].name, "PST") && salestax_of ("BC") [2].name == NULL);
    printf ("OK\n");
}
