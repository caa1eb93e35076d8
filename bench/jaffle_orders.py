#!/usr/bin/env python3
"""Write jaffle-shop-expand's raw_orders.csv and raw_items.csv (60,000 orders, seeded) into
SEEDS_DIR, from its raw_customers, raw_stores and raw_products: the two seeds that some
snapshots of the repository lack. usage: jaffle_orders.py SEEDS_DIR"""
import csv
import random
import sys
import uuid
from pathlib import Path

seeds = Path(sys.argv[1])
rng = random.Random(7)


def rows(name):
    with open(seeds / name, newline="") as f:
        return list(csv.DictReader(f))


customers = [r["id"] for r in rows("raw_customers.csv")]
stores = [(r["id"], float(r["tax_rate"])) for r in rows("raw_stores.csv")]
products = [(r["sku"], int(r["price"])) for r in rows("raw_products.csv")]
with open(seeds / "raw_orders.csv", "w", newline="") as fo, open(
    seeds / "raw_items.csv", "w", newline=""
) as fi:
    orders, items = csv.writer(fo), csv.writer(fi)
    orders.writerow(["id", "customer", "ordered_at", "store_id", "subtotal", "tax_paid", "order_total"])
    items.writerow(["id", "order_id", "sku"])
    for _ in range(60_000):
        order_id = str(uuid.UUID(int=rng.getrandbits(128)))
        store, rate = rng.choice(stores)
        bought = rng.choices(products, k=rng.randint(1, 3))
        subtotal = sum(price for _, price in bought)
        tax = round(subtotal * rate)
        at = f"2017-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(7, 20):02d}:00:00"
        orders.writerow([order_id, rng.choice(customers), at, store, subtotal, tax, subtotal + tax])
        for sku, _ in bought:
            items.writerow([str(uuid.UUID(int=rng.getrandbits(128))), order_id, sku])
