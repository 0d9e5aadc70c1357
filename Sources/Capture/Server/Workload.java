import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * The java workload: an in-memory key-value cache of about 200 MiB of values. Keys over a
 * million are drawn log-uniformly (Zipf-like popularity); a miss creates a value of 1-16 KiB
 * whose bytes derive from its key (the same key always has the same value), and the least
 * recently used entries are evicted past the budget. Every 100,000 operations it sorts the
 * keys of 100,000 recent entries as strings. Seeded by the first argument.
 */
public final class Workload {
    public static void main(String[] args) {
        long seed = args.length > 0 ? Long.parseLong(args[0]) : 1;
        Random rng = new Random(seed);
        long budget = 200L << 20;
        LinkedHashMap<Integer, byte[]> cache = new LinkedHashMap<>(1 << 16, 0.75f, true);
        long bytes = 0, hits = 0, misses = 0;
        ArrayList<String> recent = new ArrayList<>();
        for (long op = 1; ; op++) {
            int key = (int) Math.floor(Math.pow(1_000_000, rng.nextDouble()));
            byte[] v = cache.get(key);
            if (v != null) {
                hits++;
            } else {
                misses++;
                v = value(key);
                cache.put(key, v);
                bytes += v.length;
                Iterator<Map.Entry<Integer, byte[]>> it = cache.entrySet().iterator();
                while (bytes > budget && it.hasNext()) {
                    bytes -= it.next().getValue().length;
                    it.remove();
                }
            }
            recent.add("key-" + key + "-" + v.length);
            if (op % 100_000 == 0) {
                Collections.sort(recent);
                System.out.println("tt: " + op + " operations, " + cache.size() + " entries, "
                        + (bytes >> 20) + " MiB, hit ratio " + (hits * 100 / op) + "%, first " + recent.get(0));
                recent = new ArrayList<>();
            }
        }
    }

    private static byte[] value(int key) {
        Random r = new Random(key);
        byte[] v = new byte[1024 * (1 + r.nextInt(16))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (byte) ('a' + (r.nextInt(26)));
        }
        return v;
    }
}
