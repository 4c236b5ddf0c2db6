/*  =========================================================================
    receipt - a sale as a 40-column thermal printer prints it

    Why it is built this way: a printer counts characters, not bytes, and
    store and product names are French as often as English ("Montréal"),
    so widths are counted in code points and text is cut on a character
    boundary. Every amount is right-aligned in the last columns; a name
    too long for its line is cut, never wrapped into the amounts.
    =========================================================================
*/
#include "receipt.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Bytes of the first at most max characters of text.
static size_t
s_cut (const char *text, size_t max)
{
    size_t bytes = 0, chars = 0;
    while (text [bytes] && chars < max) {
        bytes++;
        while (((unsigned char) text [bytes] & 0xC0) == 0x80)
            bytes++;
        chars++;
    }
    return bytes;
}

//  --------------------------------------------------------------------------

static size_t
s_width (const char *text)
{
    size_t chars = 0;
    for (const char *c = text; *c; c++)
        if (((unsigned char) *c & 0xC0) != 0x80)
            chars++;
    return chars;
}

//  --------------------------------------------------------------------------
//  "-12.34" from cents.
static void
s_money (int64_t cents, char *buffer, size_t size)
{
    uint64_t magnitude = cents < 0 ? (uint64_t) 0 - (uint64_t) cents : (uint64_t) cents;
    snprintf (buffer, size, "%s%llu.%02llu", cents < 0 ? "-" : "", (unsigned long long) (magnitude / 100),
              (unsigned long long) (magnitude % 100));
}

//  --------------------------------------------------------------------------
//  left, then right flush with the last column.
static void
s_row (FILE *out, const char *left, const char *right)
{
    size_t right_width = s_width (right);
    size_t room = RECEIPT_WIDTH > right_width + 1 ? RECEIPT_WIDTH - right_width - 1 : 0;
    size_t bytes = s_cut (left, room);
    size_t shown = s_width (left) < room ? s_width (left) : room;
    fprintf (out, "%.*s%*s%s\n", (int) bytes, left, (int) (RECEIPT_WIDTH - shown - right_width), "", right);
}

//  --------------------------------------------------------------------------

static void
s_amount_row (FILE *out, const char *left, int64_t cents)
{
    char money [32];
    s_money (cents, money, sizeof money);
    s_row (out, left, money);
}

//  --------------------------------------------------------------------------

static void
s_centered (FILE *out, const char *text)
{
    size_t bytes = s_cut (text, RECEIPT_WIDTH);
    size_t width = s_width (text) < RECEIPT_WIDTH ? s_width (text) : RECEIPT_WIDTH;
    fprintf (out, "%*s%.*s\n", (int) ((RECEIPT_WIDTH - width) / 2), "", (int) bytes, text);
}

//  --------------------------------------------------------------------------

static void
s_rule (FILE *out)
{
    fprintf (out, "%.*s\n", RECEIPT_WIDTH, "----------------------------------------------------------------");
}

//  --------------------------------------------------------------------------

static int64_t
s_int (const json_t *object, const char *field)
{
    return json_integer_value (json_object_get (object, field));
}

//  --------------------------------------------------------------------------

static const char *
s_method_name (const char *method)
{
    return !method ? "Payment"
         : streq (method, "cash") ? "Cash"
         : streq (method, "credit_card") ? "Credit card"
         : streq (method, "debit_card") ? "Debit card"
         : streq (method, "mobile") ? "Mobile" : "Payment";
}

//  --------------------------------------------------------------------------

char *
receipt_render (const json_t *sale, const char *store_name, const char *store_address,
                const char *register_name, const char *when)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    char row [128];
    s_centered (out, store_name ? store_name : "");
    if (store_address && *store_address)
        s_centered (out, store_address);
    s_rule (out);
    const char *number = json_string_value (json_object_get (sale, "receipt_number"));
    s_row (out, "Receipt", number ? number : "");
    s_row (out, "Date", when ? when : "");
    s_row (out, "Register", register_name ? register_name : "");
    const char *cashier = json_string_value (json_object_get (sale, "cashier_id"));
    s_row (out, "Cashier", cashier ? cashier : "");
    s_rule (out);
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (sale, "items"), index, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        size_t bytes = s_cut (name ? name : "", RECEIPT_WIDTH);
        while (bytes > 0 && name [bytes - 1] == ' ')
            bytes--;
        fprintf (out, "%.*s\n", (int) bytes, name ? name : "");
        char price [32];
        s_money (s_int (item, "unit_price_cents"), price, sizeof price);
        snprintf (row, sizeof row, "  %lld x %s", (long long) s_int (item, "quantity"), price);
        s_amount_row (out, row, s_int (item, "quantity") * s_int (item, "unit_price_cents"));
        if (s_int (item, "discount_cents") > 0) {
            snprintf (row, sizeof row, "  Discount %lld%%", (long long) s_int (item, "discount_percent"));
            s_amount_row (out, row, -s_int (item, "discount_cents"));
        }
    }
    s_rule (out);
    s_amount_row (out, "Subtotal", s_int (sale, "subtotal_cents"));
    if (s_int (sale, "discount_cents") > 0)
        s_amount_row (out, "Discounts", -s_int (sale, "discount_cents"));
    json_t *tax;
    json_array_foreach (json_object_get (sale, "taxes"), index, tax) {
        const char *name = json_string_value (json_object_get (tax, "name"));
        const char *rate = json_string_value (json_object_get (tax, "rate"));
        snprintf (row, sizeof row, "%s %s%%", name ? name : "Tax", rate ? rate : "");
        s_amount_row (out, row, s_int (tax, "amount_cents"));
    }
    s_amount_row (out, "TOTAL", s_int (sale, "total_cents"));
    s_rule (out);
    json_t *payment;
    json_array_foreach (json_object_get (sale, "payments"), index, payment)
        s_amount_row (out, s_method_name (json_string_value (json_object_get (payment, "method"))),
                      s_int (payment, "amount_cents"));
    s_amount_row (out, "Change", s_int (sale, "change_cents"));
    s_rule (out);
    s_centered (out, "Thank you! Merci!");
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}
