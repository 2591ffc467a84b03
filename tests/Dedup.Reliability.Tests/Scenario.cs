using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dedup.Testing;
using RabbitMQ.Client;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>
/// One scenario: its own RabbitMQ virtual host and dedup Redis, the worker processes it starts, the producer, and the
/// checker. Every message carries the header <c>x-test-id</c> (the payment or quote id, or a name for bad input), so an
/// id is accounted for by the ledger (<c>GET ledger:&lt;scenario&gt;:{&lt;id&gt;}:payment</c>, or <c>:quote</c>) or by the
/// error queue. The ledger is the suite's shared Redis, except on a Redis Cluster (<see cref="StartClusterAsync"/>),
/// where it is the cluster itself, as in the worker's default settings.
/// </summary>
public sealed class Scenario : IAsyncDisposable
{
    public const string Payments = "payments";
    public const string External = "external-payments";
    public const string Quotes = "quotes";
    const string TestIdHeader = "x-test-id";
    static readonly string[] WorkQueues = [Payments, External, Quotes];
    static readonly string[] ErrorQueues = [Payments + "_error", External + "_error", Quotes + "_error"];

    readonly ReliabilityCluster _cluster;
    readonly ITestOutputHelper _output;
    readonly List<WorkerProcess> _workers = [];
    readonly ConcurrentDictionary<string, Expectation> _expected = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, string> _errors = new(StringComparer.Ordinal); // test id → reason
    readonly List<string> _failures = [];
    readonly DateTime _started = DateTime.UtcNow;
    readonly SemaphoreSlim _publish = new(1, 1); // one publish at a time on the producer channel, whoever sends
    RedisServer? _redis;
    ConnectionFactory _factory = null!;
    IConnection _amqp = null!;
    IChannel _channel = null!;
    int _sent;

    Scenario(ReliabilityCluster cluster, ITestOutputHelper output, string name)
    {
        _cluster = cluster;
        _output = output;
        Name = name;
        VirtualHost = "rel-" + name.Split('-')[0];
        LedgerPrefix = $"ledger:{VirtualHost}:";
    }

    public string Name { get; }

    public string VirtualHost { get; }

    public string LedgerPrefix { get; }

    /// <summary>The scenario's dedup Redis, one server (only for a scenario started with <see cref="StartAsync"/>).</summary>
    public RedisServer Redis => _redis ?? throw new InvalidOperationException($"Scenario {Name} does not run on one Redis server: use {(Replicated is null ? nameof(DedupCluster) : nameof(Replicated))}.");

    /// <summary>The scenario's dedup Redis as a primary and a replica, for a scenario started with <see cref="StartReplicatedAsync"/>.</summary>
    public ReplicatedRedis? Replicated { get; private set; }

    /// <summary>The scenario's dedup Redis and ledger as a Redis Cluster, for a scenario started with <see cref="StartClusterAsync"/>.</summary>
    public RedisCluster? DedupCluster { get; private set; }

    /// <summary>The test's own connection to the dedup Redis (to both nodes of <see cref="Replicated"/>, following a promotion; to every node of <see cref="DedupCluster"/>).</summary>
    public ConnectionMultiplexer DedupRedis { get; private set; } = null!;

    /// <summary>Where the checker reads the ledger: the suite's ledger Redis, or the cluster.</summary>
    ConnectionMultiplexer Ledger => DedupCluster is null ? _cluster.Ledger : DedupRedis;

    public RabbitMqServer RabbitMq => _cluster.RabbitMq;

    public IReadOnlyList<WorkerProcess> Workers => _workers;

    /// <summary>Messages published so far (copies included).</summary>
    public int Sent => Volatile.Read(ref _sent);

    /// <summary>Every id the scenario expects to be accounted for.</summary>
    public IReadOnlyCollection<string> ExpectedIds => [.. _expected.Keys];

    /// <summary>Settings every worker gets; a test overrides some per worker.</summary>
    public Dictionary<string, string> Defaults { get; } = new(StringComparer.Ordinal);

    public static async Task<Scenario> StartAsync(ReliabilityCluster cluster, ITestOutputHelper output, string name, RedisServerOptions? redis = null)
    {
        var scenario = new Scenario(cluster, output, name);
        await scenario.InitializeAsync(async () =>
        {
            scenario._redis = await RedisServer.StartAsync(redis ?? new RedisServerOptions());
            return scenario._redis.ConnectionString;
        });
        return scenario;
    }

    /// <summary>
    /// A scenario whose dedup Redis is a primary with one replica (local processes, no persistence): workers get both
    /// endpoints in <c>Redis__Configuration</c>, so StackExchange.Redis finds whichever one is the primary.
    /// </summary>
    public static async Task<Scenario> StartReplicatedAsync(ReliabilityCluster cluster, ITestOutputHelper output, string name)
    {
        var scenario = new Scenario(cluster, output, name);
        await scenario.InitializeAsync(async () =>
        {
            scenario.Replicated = await ReplicatedRedis.StartAsync();
            return $"{scenario.Replicated.PrimaryConnectionString},{scenario.Replicated.ReplicaConnectionString}";
        });
        return scenario;
    }

    /// <summary>
    /// A scenario on a local Redis Cluster of three masters (with <paramref name="replicasPerMaster"/> replicas each)
    /// that holds both the dedup records and the ledger: the workers get every node in <c>Redis__Configuration</c> and
    /// no <c>Ledger__Redis</c>, the worker's defaults on a cluster (README, "Redis Cluster").
    /// </summary>
    public static async Task<Scenario> StartClusterAsync(ReliabilityCluster cluster, ITestOutputHelper output, string name, int replicasPerMaster = 0)
    {
        var scenario = new Scenario(cluster, output, name);
        await scenario.InitializeAsync(async () =>
        {
            scenario.DedupCluster = await RedisCluster.StartAsync(new RedisClusterOptions { ReplicasPerMaster = replicasPerMaster });
            scenario.Log($"started {scenario.DedupCluster}");
            return scenario.DedupCluster.ConnectionString;
        });
        scenario.Defaults.Remove("Ledger__Redis");
        return scenario;
    }

    async Task InitializeAsync(Func<Task<string>> startRedis)
    {
        try
        {
            await RabbitMq.CtlAsync("delete_vhost", VirtualHost);
        }
        catch (InvalidOperationException)
        {
            // not there: the usual case
        }

        Directory.CreateDirectory(Path.GetDirectoryName(ReliabilityCluster.SummaryPath)!);
        File.Delete(Path.Combine(Path.GetDirectoryName(ReliabilityCluster.SummaryPath)!, VirtualHost + ".log"));
        await RabbitMq.CtlAsync("add_vhost", VirtualHost);
        await RabbitMq.CtlAsync("set_permissions", "-p", VirtualHost, RabbitMq.Username, ".*", ".*", ".*");
        var redis = await startRedis();
        // configCheckSeconds: the test's own connection reads the nodes' roles every second, as the worker's does, so it
        // follows a promotion (scenario 18).
        DedupRedis = await ConnectionMultiplexer.ConnectAsync($"{redis},abortConnect=false,connectTimeout=2000,syncTimeout=3000,asyncTimeout=3000,configCheckSeconds=1");
        var factory = new ConnectionFactory
        {
            HostName = RabbitMq.Host,
            Port = RabbitMq.Port,
            UserName = RabbitMq.Username,
            Password = RabbitMq.Password,
            VirtualHost = VirtualHost,
            ClientProvidedName = "reliability-producer",
        };
        _factory = factory;
        await ReconnectProducerAsync();

        Defaults["RabbitMq__Host"] = RabbitMq.Host;
        Defaults["RabbitMq__Port"] = RabbitMq.Port.ToString(CultureInfo.InvariantCulture);
        Defaults["RabbitMq__VirtualHost"] = VirtualHost;
        Defaults["RabbitMq__Username"] = RabbitMq.Username;
        Defaults["RabbitMq__Password"] = RabbitMq.Password;
        Defaults["Redis__Configuration"] = redis;
        Defaults["Ledger__Redis"] = _cluster.LedgerRedis.ConnectionString;
        Defaults["Ledger__KeyPrefix"] = LedgerPrefix;
        Defaults["Dedup__Lease"] = "00:00:02";
        Defaults["Dedup__InFlightWait"] = "00:00:04";
        Defaults["Dedup__RedeliveryDelay"] = "00:00:00.200";
        Defaults["Worker__StopTimeout"] = "00:00:08";
        Defaults["Worker__ConsumerStopTimeout"] = "00:00:04";
        Defaults["Worker__ConcurrentMessageLimit"] = "8";
        Defaults["Worker__PrefetchCount"] = "16";
        Defaults["Worker__Faults__LogOutcomes"] = "true";
        Defaults["Logging__LogLevel__Default"] = "Warning";
        Defaults["Logging__LogLevel__Dedup"] = "Information";
        Defaults["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        Defaults["DOTNET_ENVIRONMENT"] = "Production";
        Defaults["DOTNET_TieredPGO"] = "0";
    }

    /// <summary>Opens a new producer connection (after the broker closed it).</summary>
    public async Task ReconnectProducerAsync()
    {
        if (_amqp is not null)
        {
            try
            {
                await _amqp.DisposeAsync();
            }
            catch (Exception)
            {
                // already closed
            }
        }

        _amqp = await _factory.CreateConnectionAsync();
        _channel = await _amqp.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
    }

    /// <summary>Writes to the test's output and to artifacts/reliability/&lt;vhost&gt;.log.</summary>
    public void Log(string text)
    {
        var line = $"[{(DateTime.UtcNow - _started).TotalSeconds,6:F1}s] {text}";
        _output.WriteLine(line);
        var path = Path.Combine(Path.GetDirectoryName(ReliabilityCluster.SummaryPath)!, VirtualHost + ".log");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        lock (_failures)
            File.AppendAllText(path, line + "\n");
    }

    /// <summary>Starts a worker with the defaults and <paramref name="settings"/> on top.</summary>
    public WorkerProcess StartWorker(string name, params (string Key, string Value)[] settings)
    {
        var environment = new Dictionary<string, string>(Defaults, StringComparer.Ordinal);
        foreach (var (key, value) in settings)
            environment[key] = value;
        var worker = WorkerProcess.Start(name, environment);
        _workers.Add(worker);
        Log($"started worker {name} (pid {worker.Id})");
        return worker;
    }

    /// <summary>Waits until the payments and external-payments queues have at least <paramref name="consumers"/> consumers each.</summary>
    public async Task WaitForConsumersAsync(int consumers, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var payments = await ConsumerCountAsync(Payments);
            var external = await ConsumerCountAsync(External);
            if (payments >= consumers && external >= consumers)
                return;
            var exited = _workers.FirstOrDefault(w => w.HasExited && w.ExitCode != 137);
            if (DateTime.UtcNow > deadline || exited is not null)
                throw new InvalidOperationException($"{consumers} consumers not reached (payments {payments}, external {external}). Worker output:\n{string.Join("\n---\n", _workers.Select(w => w.Name + ":\n" + Tail(w.Output)))}");
            await Task.Delay(200);
        }
    }

    async Task<uint> ConsumerCountAsync(string queue)
    {
        await using var channel = await _amqp.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    /// <summary>Sends a ChargePayment in a MassTransit envelope to the payments queue; MessageId = payment id unless given.</summary>
    public async Task SendPaymentAsync(Guid paymentId, int copies = 1, Guid? messageId = null, long allowedDuplicates = 0)
    {
        Expect(paymentId.ToString(), allowedDuplicates);
        var id = messageId ?? paymentId;
        var body = Envelope(id, new { paymentId, amount = 12.5m, currency = "EUR" });
        for (var i = 0; i < copies; i++)
            await PublishAsync(Payments, body, paymentId.ToString(), props => props.MessageId = id.ToString());
    }

    /// <summary>Sends many payments, each <paramref name="copies"/> times, interleaved (copies of one id are not adjacent).</summary>
    public async Task SendPaymentsAsync(IReadOnlyList<Guid> ids, int copies)
    {
        for (var c = 0; c < copies; c++)
        {
            foreach (var id in ids)
                await SendPaymentAsync(id);
        }
    }

    /// <summary>Sends a plain JSON payment to external-payments with the AMQP message_id.</summary>
    public async Task SendExternalAsync(string paymentId, string? messageId, string testId, bool expectError = false)
    {
        Expect(testId, 0, expectError);
        var body = JsonSerializer.SerializeToUtf8Bytes(new { paymentId, amount = 3.5m, currency = "EUR" });
        await PublishAsync(External, body, testId, props =>
        {
            props.ContentType = "application/json";
            if (messageId is not null)
                props.MessageId = messageId;
        });
    }

    /// <summary>Sends raw bytes that must end in the error queue (bad input), identified by <paramref name="testId"/>.</summary>
    public async Task SendRawAsync(string queue, byte[] body, string testId, Action<BasicProperties>? configure = null)
    {
        Expect(testId, 0, expectError: true);
        await PublishAsync(queue, body, testId, configure ?? (_ => { }));
    }

    /// <summary>
    /// Sends a GetQuote request in a MassTransit envelope to the quotes queue, as a requester would: a retry is a copy
    /// with the same <paramref name="messageId"/> (the dedup key) and its own <paramref name="requestId"/>, answered at
    /// <paramref name="responseAddress"/>.
    /// </summary>
    public async Task SendQuoteRequestAsync(string quoteId, Guid messageId, Guid requestId, Uri responseAddress)
    {
        Expect(quoteId, 0, counter: LedgerCounter.Quote);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["messageId"] = messageId.ToString(),
            ["requestId"] = requestId.ToString(),
            ["conversationId"] = Guid.NewGuid().ToString(),
            ["responseAddress"] = responseAddress.ToString(),
            ["messageType"] = new[] { "urn:message:Dedup.Worker.Contracts:GetQuote" },
            ["message"] = new { quoteId, product = "widget", quantity = 3 },
            ["sentTime"] = DateTime.UtcNow.ToString("O"),
            ["headers"] = new Dictionary<string, object>(),
        });
        await PublishAsync(Quotes, body, quoteId, props => props.MessageId = messageId.ToString());
    }

    /// <summary>
    /// Declares a reply queue (with the fanout exchange of the same name MassTransit sends a response to) and records
    /// every reply that arrives; returns it with the address to put in a request's ResponseAddress.
    /// </summary>
    public async Task<ReplyRecorder> ListenForRepliesAsync(string queue)
    {
        var channel = await _amqp.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(queue, queue, string.Empty);
        var address = new Uri($"rabbitmq://{RabbitMq.Host}:{RabbitMq.Port}/{VirtualHost}/{queue}");
        var recorder = new ReplyRecorder(address, channel);
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            recorder.Record(delivery.Body.Span);
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        return recorder;
    }

    void Expect(string testId, long allowedDuplicates, bool expectError = false, LedgerCounter counter = LedgerCounter.Payment) =>
        _expected.AddOrUpdate(testId, new Expectation(allowedDuplicates, expectError, counter),
            (_, e) => e with { AllowedDuplicates = Math.Max(e.AllowedDuplicates, allowedDuplicates) });

    public void AllowDuplicate(string testId, long count) =>
        _expected.AddOrUpdate(testId, new Expectation(count, false, LedgerCounter.Payment), (_, e) => e with { AllowedDuplicates = count });

    async Task PublishAsync(string queue, byte[] body, string testId, Action<BasicProperties> configure)
    {
        var props = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/vnd.masstransit+json",
            Headers = new Dictionary<string, object?> { [TestIdHeader] = testId },
        };
        configure(props);
        await _publish.WaitAsync();
        try
        {
            await _channel.BasicPublishAsync(string.Empty, queue, mandatory: false, props, body);
        }
        finally
        {
            _publish.Release();
        }

        Interlocked.Increment(ref _sent);
    }

    public static byte[] Envelope(Guid? messageId, object message) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["messageId"] = messageId?.ToString(),
        ["conversationId"] = Guid.NewGuid().ToString(),
        ["messageType"] = new[] { "urn:message:Dedup.Worker.Contracts:ChargePayment" },
        ["message"] = message,
        ["sentTime"] = DateTime.UtcNow.ToString("O"),
        ["headers"] = new Dictionary<string, object>(),
    });

    /// <summary>
    /// How many times the ledger recorded each expected id that ran (ids that never ran are absent): one <c>GET</c> per
    /// id, pipelined, since the ledger keeps its keys per id (<c>&lt;prefix&gt;{&lt;id&gt;}:payment</c> or <c>:quote</c>).
    /// </summary>
    public async Task<Dictionary<string, long>> LedgerCountsAsync()
    {
        var db = Ledger.GetDatabase();
        var expected = _expected.ToArray();
        var values = await Task.WhenAll(expected.Select(e => db.StringGetAsync(LedgerKey(e.Key, e.Value.Counter == LedgerCounter.Quote ? "quote" : "payment"))));
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < expected.Length; i++)
        {
            if (!values[i].IsNull)
                counts[expected[i].Key] = (long)values[i];
        }

        return counts;
    }

    /// <summary>Executions beyond the first per id, and ids that neither ran nor reached an error queue, as the ledger has them now.</summary>
    public async Task<(long Repeats, int Lost)> RepeatsAndLostAsync()
    {
        var counts = await LedgerCountsAsync();
        return (counts.Values.Sum(n => Math.Max(0, n - 1)), _expected.Keys.Count(id => !counts.ContainsKey(id) && !_errors.ContainsKey(id)));
    }

    /// <summary>How many times the workers counted <paramref name="outcome"/> (<c>dedup.messages</c>, from their <c>fault-probe</c> lines).</summary>
    public int Outcomes(string outcome) => _workers.Sum(w => w.Count("outcome=" + outcome));

    /// <summary>The ledger's entries (JSON) for one payment, oldest first (<c>LRANGE &lt;prefix&gt;{&lt;id&gt;}:entries</c>).</summary>
    public async Task<List<JsonElement>> LedgerEntriesAsync(string paymentId)
    {
        var all = await Ledger.GetDatabase().ListRangeAsync(LedgerKey(paymentId, "entries"));
        return [.. all.Select(v => JsonDocument.Parse((string)v!).RootElement)];
    }

    string LedgerKey(string id, string what) => $"{LedgerPrefix}{{{id}}}:{what}";

    /// <summary>Messages in a queue (ready plus unacknowledged), from rabbitmqctl.</summary>
    public async Task<long> QueueDepthAsync(params string[] queues)
    {
        var output = await RabbitMq.CtlAsync("-q", "list_queues", "-p", VirtualHost, "--no-table-headers", "name", "messages");
        long total = 0;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            if (parts.Length == 2 && queues.Contains(parts[0].Trim()) && long.TryParse(parts[1].Trim(), out var n))
                total += n;
        }

        return total;
    }

    /// <summary>Moves everything in the error queues into the checker's error list (test id → reason).</summary>
    public async Task CollectErrorsAsync()
    {
        foreach (var queue in ErrorQueues)
        {
            await using var channel = await _amqp.CreateChannelAsync();
            while (true)
            {
                BasicGetResult? result;
                try
                {
                    result = await channel.BasicGetAsync(queue, autoAck: true);
                }
                catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
                {
                    break; // the error queue does not exist yet
                }

                if (result is null)
                    break;
                IDictionary<string, object?> headers = result.BasicProperties.Headers ?? new Dictionary<string, object?>();
                var testId = Text(Header(headers, TestIdHeader)) ?? result.BasicProperties.MessageId ?? "?";
                var reason = Text(Header(headers, "MT-Fault-ExceptionType")) + ": " + Text(Header(headers, "MT-Fault-Message"))
                             + " (" + Text(Header(headers, "MT-Reason")) + ")";
                _errors[testId] = reason;
                Log($"error queue {queue}: {testId}: {reason}");
            }
        }
    }

    public IReadOnlyDictionary<string, string> Errors => _errors;

    static object? Header(IDictionary<string, object?> headers, string name) => headers.TryGetValue(name, out var value) ? value : null;

    static string? Text(object? value) => value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        _ => value.ToString(),
    };

    /// <summary>
    /// Waits until every expected id ran or is in an error queue and both work queues are empty; then waits
    /// <paramref name="settle"/> more and counts again, so a late duplicate execution is still seen.
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout, TimeSpan? settle = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await CollectErrorsAsync();
            var counts = await LedgerCountsAsync();
            var open = _expected.Keys.Count(id => counts.GetValueOrDefault(id) == 0 && !_errors.ContainsKey(id));
            if (open == 0 && await QueueDepthAsync(WorkQueues) == 0)
                break;
            if (DateTime.UtcNow > deadline)
            {
                Log($"drain timed out: {open} ids neither ran nor failed; queues {await QueueDepthAsync(WorkQueues)}");
                break;
            }

            await Task.Delay(300);
        }

        await Task.Delay(settle ?? TimeSpan.FromSeconds(1.5));
        await CollectErrorsAsync();
    }

    /// <summary>Adds a scenario-specific condition to <c>passed</c>.</summary>
    public void Check(bool condition, string what)
    {
        Log($"check {(condition ? "ok  " : "FAIL")}: {what}");
        if (!condition)
            _failures.Add(what);
    }

    /// <summary>Keys of the dedup store still in progress (s = p), on its primary (on a cluster, on every master).</summary>
    public async Task<int> KeysInProgressAsync()
    {
        var n = 0;
        foreach (var server in await DedupPrimariesAsync())
            n += await KeysInProgressAsync(server);
        return n;
    }

    /// <summary>Keys of the dedup store still in progress (s = p) on one server (a cluster's master holds its slots' keys).</summary>
    public async Task<int> KeysInProgressAsync(IServer server)
    {
        var db = DedupRedis.GetDatabase();
        var n = 0;
        await foreach (var key in server.KeysAsync(pattern: "dedup:*"))
        {
            if (await db.KeyTypeAsync(key) == RedisType.Hash && (string?)await db.HashGetAsync(key, "s") == "p")
                n++;
        }

        return n;
    }

    /// <summary>
    /// The servers that hold the dedup records: the primary, or on a cluster every node that answers <c>ROLE</c> as a
    /// master now (asked of the nodes, not of the connection, whose view may lag a failover by a moment).
    /// </summary>
    public async Task<IReadOnlyList<IServer>> DedupPrimariesAsync()
    {
        if (DedupCluster is null)
            return [DedupRedis.GetServers().First(s => s.IsConnected && !s.IsReplica)];
        var masters = new List<IServer>();
        foreach (var node in DedupCluster.Nodes)
        {
            if (await node.IsMasterAsync())
                masters.Add(DedupRedis.GetServer(node.EndPoint));
        }

        return masters;
    }

    /// <summary>
    /// Accounts for every id, records the scenario's line in the summary (with <paramref name="notes"/>, the scenario's
    /// own figures), and asserts it passed.
    /// </summary>
    public async Task<ScenarioResult> FinishAsync(bool checkNoClaimInProgress = true, string? notes = null)
    {
        var counts = await LedgerCountsAsync();
        long executions = 0, duplicates = 0, allowed = 0;
        var lost = new List<string>();
        foreach (var (id, expectation) in _expected)
        {
            var count = counts.GetValueOrDefault(id);
            executions += count;
            duplicates += Math.Max(0, count - 1);
            allowed += expectation.AllowedDuplicates;
            if (count > 1 + expectation.AllowedDuplicates)
                _failures.Add($"{id} ran {count} times (allowed {1 + expectation.AllowedDuplicates})");
            if (count == 0 && !_errors.ContainsKey(id))
                lost.Add(id);
            if (_errors.TryGetValue(id, out var reason))
            {
                if (!expectation.ExpectError)
                    _failures.Add($"{id} is in the error queue but should have run: {reason}");
                else if (string.IsNullOrWhiteSpace(reason.Replace(":", "").Replace("()", "")))
                    _failures.Add($"{id} is in the error queue without a reason");
            }
            else if (expectation.ExpectError)
            {
                _failures.Add($"{id} should be in the error queue (ran {count} times)");
            }
        }

        if (checkNoClaimInProgress)
        {
            var inProgress = await KeysInProgressAsync();
            Check(inProgress == 0, $"no dedup key left in progress (found {inProgress})");
        }

        foreach (var id in lost)
            _failures.Add($"{id} lost: it neither ran nor reached an error queue");

        var result = new ScenarioResult(Name, _sent, _expected.Count, executions, lost.Count, duplicates, allowed, _failures.Count == 0, notes);
        _cluster.Record(result);
        Log($"{Name}: sent={result.Sent} unique={result.Unique} executions={result.Executions} lost={result.Lost} duplicateExecutions={result.DuplicateExecutions} allowed={result.AllowedDuplicateExecutions} passed={result.Passed}");
        if (!result.Passed)
        {
            foreach (var worker in _workers)
                Log($"--- {worker.Name} (pid {worker.Id}, exit {worker.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "running"}):\n{Tail(worker.Output)}");
        }

        Assert.True(result.Passed, $"{Name} failed:\n{string.Join("\n", _failures.Take(30))}");
        return result;
    }

    static string Tail(string text, int lines = 60)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
            await worker.DisposeAsync();
        try
        {
            await _channel.CloseAsync();
            await _amqp.CloseAsync();
        }
        catch (Exception)
        {
            // the broker may have closed it (close_all_connections)
        }

        _publish.Dispose();
        DedupRedis?.Dispose();
        if (_redis is not null)
            await _redis.DisposeAsync();
        if (Replicated is not null)
            await Replicated.DisposeAsync();
        if (DedupCluster is not null)
            await DedupCluster.DisposeAsync();
        try
        {
            await RabbitMq.CtlAsync("delete_vhost", VirtualHost);
        }
        catch (InvalidOperationException)
        {
        }
    }

    enum LedgerCounter
    {
        Payment,
        Quote,
    }

    sealed record Expectation(long AllowedDuplicates, bool ExpectError, LedgerCounter Counter);
}
