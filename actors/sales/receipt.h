/*  =========================================================================
    receipt - a sale as a 40-column thermal printer prints it

    Pure text from the sale as sales_render shows it (JSON) and the few
    words around it (store, address, register, date), so that the layout
    is tested without a database (tests/sales_it.c).
    =========================================================================
*/
#ifndef COMPTOIR_RECEIPT_H
#define COMPTOIR_RECEIPT_H

#include <jansson.h>

#define RECEIPT_WIDTH 40

//  The receipt text (UTF-8, lines of at most RECEIPT_WIDTH characters,
//  each ending in "\n"); the caller frees it. NULL on allocation failure.
char *receipt_render (const json_t *sale, const char *store_name, const char *store_address,
                      const char *register_name, const char *when);

#endif
