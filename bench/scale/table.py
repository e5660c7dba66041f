#!/usr/bin/python3
"""bench/scale/table.py CSV [LOG [BLOCKS_CSV]]: the README's markdown tables.
CSV: bench_scale's checkpoint CSV (one row per checkpoint).  LOG (the run's
<datadir>/scale.log): the split of the connect per 1,000 heights from
signetd's own block_connected events, txn body and its spend part (p50).
BLOCKS_CSV (--blocks-csv): connect and 16-block commit p10/p50 per 1,000
heights, the 9,000-tx blocks apart (the floor: robust to a loaded machine).
Standard library only."""
import csv
import sys


def f(v, nd=1):
    x = float(v)
    return '-' if x < 0 else f'{x:,.{nd}f}'


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    cut = 'tbl_cut_through_bytes' in rows[0]  # format 5 and older
    print('| blocks | tweaks (M) | tracked unspent (M) | connect p50 / p99 / max ms '
          '| commit per block ms | data.mdb used GB | B/tweak (utxos, '
          + ('cut, ' if cut else '') + 'tweak_index, undo, v2, free) '
          '| outmap MiB | open->read cold / warm ms '
          '| reorg 6 disc+reconn ms | reorg 100 disc+reconn ms | cold deep read ms | lost batches (cum.) |')
    print('|' + '---|' * 13)
    for r in rows:
        t = float(r['tweaks'])
        per = lambda k: f'{float(r[k]) / t:.0f}' if r.get(k) else '-'  # v2: newer CSVs
        print(f"| {r['blocks']} | {t / 1e6:.2f} | {float(r['tracked_unspent']) / 1e6:.2f} "
              f"| {f(r['connect_p50_ms'])} / {f(r['connect_p99_ms'])} / {f(r['connect_max_ms'], 0)} "
              f"| {f(r['commit_per_block_ms'], 2)} "
              f"| {float(r['db_used_bytes']) / 1e9:.2f} "
              f"| {f(r['bytes_per_tweak'], 0)} ({per('tbl_utxos_bytes')}, "
              + (f"{per('tbl_cut_through_bytes')}, " if cut else '') +
              f"{per('tbl_tweak_index_bytes')}, {per('tbl_undo_bytes')}, {per('tbl_v2_bytes')}, {per('db_free_bytes')}) "
              f"| {float(r['outmap_bytes']) / 1048576:.0f} "
              f"| {f(r['open_to_read_ms'], 0)} / {f(r['warm_open_to_read_ms'], 0)} "
              f"| {f(r['reorg6_disc_ms'], 0)}+{f(r['reorg6_reconn_ms'], 0)} "
              f"| {f(r['reorg100_disc_ms'], 0)}+{f(r['reorg100_reconn_ms'], 0)} "
              f"| {f(r['cold_read_ms'], 0)} | {r['lost_batches']} |")


def logsplit(path, per=1000):
    import re
    pat = re.compile(r'msg=block_connected height=(\d+) .*? txn_ms=([\d.]+) '
                     r'spend_ms=([\d.]+)')
    win = {}
    for line in open(path):
        m = pat.search(line)
        if m:
            h = int(m.group(1))
            win.setdefault((h - 1) // per, []).append(
                (float(m.group(2)), float(m.group(3))))
    print()
    print(f'| heights | txn body p50 ms | of which spends p50 ms | other p50 ms |')
    print('|---|---|---|---|')
    for k in sorted(win):
        v = win[k]
        txn = sorted(x[0] for x in v)
        sp = sorted(x[1] for x in v)
        ot = sorted(x[0] - x[1] for x in v)
        mid = len(v) // 2
        print(f'| {k * per + 1}-{(k + 1) * per} | {txn[mid]:.2f} | '
              f'{sp[mid]:.2f} | {ot[mid]:.2f} |')


def floor(path, per=1000):
    win = {}
    for r in csv.DictReader(open(path)):
        w = win.setdefault((int(r['height']) - 1) // per,
                           {'c': [], 'm': [], 'big': []})
        if int(r['n_tx']) > 5000:
            w['big'].append(float(r['connect_ms']))
            continue
        w['c'].append(float(r['connect_ms']))
        if float(r['commit_ms']) > 0:
            w['m'].append(float(r['commit_ms']))

    def q(v, p):
        v = sorted(v)
        return f'{v[int(p * (len(v) - 1))]:.2f}' if v else '-'
    print()
    print('| heights | connect p10 ms | connect p50 ms | commit p10 ms '
          '| commit p50 ms | 9,000-tx blocks, median ms |')
    print('|---|---|---|---|---|---|')
    for k in sorted(win):
        w = win[k]
        print(f"| {k * per + 1}-{(k + 1) * per} | {q(w['c'], .1)} | "
              f"{q(w['c'], .5)} | {q(w['m'], .1)} | {q(w['m'], .5)} | "
              f"{q(w['big'], .5)} |")


if __name__ == '__main__':
    main()
    if len(sys.argv) > 2:
        logsplit(sys.argv[2])
    if len(sys.argv) > 3:
        floor(sys.argv[3])
