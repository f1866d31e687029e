import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;
import software.amazon.dynamodb.services.local.shared.access.AmazonDynamoDBLocal;

/**
 * Starts DynamoDB Local as its jar's command line does (ServerRunner
 * .createServerFromCommandLineArgs + start; the jar's main also sets up telemetry, which the
 * testkit always disables with -disableTelemetry) and, with --control-port, exposes the test hooks of
 * its AmazonDynamoDBLocal databases on a loopback HTTP port:
 *
 *   POST /rollover[?database=KEY]          triggerShardRollovers() on each (or one) database
 *   POST /advance-time?ms=N[&database=KEY]  dilateEventTimes(N) on each (or one) database
 *   GET  /databases                         the database keys ("<accessKey>_<region>", or
 *                                           "shared-local-instance" with -sharedDb)
 *
 * DynamoDB Local 3.3 has a dormant "-testControl" flag (LocalDynamoDBRequestHandler
 * .isTestControlEnabled) that nothing reads, so the databases are reached by reflection:
 * DynamoDBProxyServer.serverHandler -> AbstractLocalDynamoDBServerHandler.primaryHandler
 * (LocalDynamoDBRequestHandler) -> dbRequestHandlers (Map<String, AmazonDynamoDBLocal>, one
 * per credential database, created on its first request).
 *
 * Watchdog: the JVM exits when its stdin reaches end of file, which the kernel delivers when
 * the parent dies for any reason (SIGKILL included), so no JVM outlives its owner.
 *
 * Usage: java -cp <this dir>:DynamoDBLocal.jar ShardlineDynamoDBLocal [--control-port N] -- <DynamoDB Local args>
 */
public final class ShardlineDynamoDBLocal {
  private ShardlineDynamoDBLocal() {}

  public static void main(String[] argv) throws Exception {
    int controlPort = -1;
    int split = Arrays.asList(argv).indexOf("--");
    String[] own = split < 0 ? new String[0] : Arrays.copyOfRange(argv, 0, split);
    String[] serverArgs = split < 0 ? argv : Arrays.copyOfRange(argv, split + 1, argv.length);
    for (int i = 0; i < own.length; i++) {
      if ("--control-port".equals(own[i]) && i + 1 < own.length) {
        controlPort = Integer.parseInt(own[++i]);
      } else {
        System.err.println("shardline launcher: unknown option " + own[i]);
        System.exit(2);
      }
    }
    startWatchdog();
    DynamoDBProxyServer server = ServerRunner.createServerFromCommandLineArgs(serverArgs);
    try {
      server.start();
    } catch (Exception e) {
      System.err.println("shardline launcher: DynamoDB Local failed to start: " + e);
      System.exit(1);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.stop();
      } catch (Exception ignored) {
        // The process is exiting; nothing left to protect.
      }
    }, "shardline-shutdown"));
    if (controlPort >= 0) {
      Map<String, AmazonDynamoDBLocal> databases = databases(server);
      HttpServer control = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), controlPort), 16);
      control.createContext("/", exchange -> handle(exchange, databases));
      control.start();
      System.out.println("shardline-controls-port=" + control.getAddress().getPort());
      System.out.flush();
    }
  }

  private static void startWatchdog() {
    Thread watchdog = new Thread(() -> {
      try {
        InputStream in = System.in;
        byte[] buffer = new byte[256];
        while (in.read(buffer) >= 0) {
          // Input is ignored: only its end matters.
        }
      } catch (IOException ignored) {
        // A broken stdin means the parent is gone, as EOF does.
      }
      System.exit(0);
    }, "shardline-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, AmazonDynamoDBLocal> databases(DynamoDBProxyServer server) throws ReflectiveOperationException {
    Object serverHandler = field(server.getClass(), "serverHandler").get(server);
    Object primary = field(serverHandler.getClass(), "primaryHandler").get(serverHandler);
    return (Map<String, AmazonDynamoDBLocal>) field(primary.getClass(), "dbRequestHandlers").get(primary);
  }

  private static Field field(Class<?> type, String name) throws NoSuchFieldException {
    for (Class<?> c = type; c != null; c = c.getSuperclass()) {
      try {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f;
      } catch (NoSuchFieldException next) {
        // Look in the superclass.
      }
    }
    throw new NoSuchFieldException(type.getName() + "." + name + " (DynamoDB Local internals changed?)");
  }

  private static void handle(HttpExchange exchange, Map<String, AmazonDynamoDBLocal> databases) throws IOException {
    try {
      String path = exchange.getRequestURI().getPath();
      Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
      if ("GET".equals(exchange.getRequestMethod()) && "/databases".equals(path)) {
        reply(exchange, 200, "{\"databases\":" + json(new ArrayList<>(databases.keySet())) + "}");
        return;
      }
      if (!"POST".equals(exchange.getRequestMethod())) {
        reply(exchange, 405, "{\"error\":\"use POST\"}");
        return;
      }
      List<String> keys = targets(databases, query.get("database"));
      if ("/rollover".equals(path)) {
        for (String key : keys) databases.get(key).triggerShardRollovers();
      } else if ("/advance-time".equals(path)) {
        long ms = Long.parseLong(query.getOrDefault("ms", "0"));
        if (ms <= 0) {
          reply(exchange, 400, "{\"error\":\"ms must be a positive integer\"}");
          return;
        }
        for (String key : keys) databases.get(key).dilateEventTimes(ms);
      } else {
        reply(exchange, 404, "{\"error\":\"unknown control " + path.replace("\"", "") + "\"}");
        return;
      }
      reply(exchange, 200, "{\"databases\":" + json(keys) + "}");
    } catch (RuntimeException | Error e) {
      String message = String.valueOf(e.getMessage()).replace("\\", "\\\\").replace("\"", "\\\"");
      reply(exchange, 500, "{\"error\":\"" + e.getClass().getSimpleName() + ": " + message + "\"}");
    }
  }

  private static List<String> targets(Map<String, AmazonDynamoDBLocal> databases, String only) {
    if (only == null) return new ArrayList<>(databases.keySet());
    if (!databases.containsKey(only)) throw new IllegalArgumentException("no database " + only + " (it exists after its first request)");
    return List.of(only);
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> out = new java.util.HashMap<>();
    if (raw == null) return out;
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8), URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return out;
  }

  private static String json(List<String> values) {
    StringBuilder out = new StringBuilder("[");
    for (int i = 0; i < values.size(); i++) {
      if (i > 0) out.append(',');
      out.append('"').append(values.get(i).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
    }
    return out.append(']').toString();
  }

  private static void reply(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }
}
