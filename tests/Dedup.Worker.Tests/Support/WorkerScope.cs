using System.Globalization;
using System.Text.Json;
using MassTransit;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Dedup.Worker.Tests.Support;

/// <summary>
/// One test's slice of the shared servers: a RabbitMQ virtual host, dedup and ledger key prefixes, the environment a
/// worker process needs for them, and the clients a test uses to publish and to read the ledger.
/// </summary>
internal sealed class WorkerScope : IAsyncDisposable
{
    readonly WorkerServers _servers;
    readonly ConnectionMultiplexer _redis;

    WorkerScope(WorkerServers servers, string id, ConnectionMultiplexer redis, string redisConfiguration)
    {
        _servers = servers;
        VirtualHost = id;
        _redis = redis;
        LedgerPrefix = $"ledger-{id}:";
        Environment = new Dictionary<string, string>
        {
            ["RabbitMq__Host"] = servers.RabbitMq.Host,
            ["RabbitMq__Port"] = servers.RabbitMq.Port.ToString(CultureInfo.InvariantCulture),
            ["RabbitMq__VirtualHost"] = id,
            ["RabbitMq__Username"] = servers.RabbitMq.Username,
            ["RabbitMq__Password"] = servers.RabbitMq.Password,
            ["Redis__Configuration"] = redisConfiguration,
            ["Dedup__KeyPrefix"] = $"dedup-{id}:",
            ["Ledger__KeyPrefix"] = LedgerPrefix,
            ["Worker__StopTimeout"] = "00:00:15",
            ["Worker__ConsumerStopTimeout"] = "00:00:05",
        };
    }

    public string VirtualHost { get; }

    public string LedgerPrefix { get; }

    /// <summary>The worker's settings for this scope; a test adds or overrides entries before starting workers.</summary>
    public Dictionary<string, string> Environment { get; }

    /// <param name="servers">The shared servers.</param>
    /// <param name="id">The virtual host and key prefix suffix.</param>
    /// <param name="redisConfiguration">The dedup (and ledger) Redis: the shared one by default, or another (a cluster).</param>
    public static async Task<WorkerScope> CreateAsync(WorkerServers servers, string id, string? redisConfiguration = null)
    {
        var configuration = redisConfiguration ?? servers.Redis.ConnectionString;
        return new(servers, id, await ConnectionMultiplexer.ConnectAsync(configuration), configuration);
    }

    public WorkerProcess StartWorker() => WorkerProcess.Start(Environment);

    /// <summary>A MassTransit bus on this virtual host, as another service producing to the worker would have.</summary>
    public async Task<IBusControl> StartBusAsync()
    {
        var rabbitMq = _servers.RabbitMq;
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
            cfg.Host(rabbitMq.Host, (ushort)rabbitMq.Port, VirtualHost, h =>
            {
                h.Username(rabbitMq.Username);
                h.Password(rabbitMq.Password);
            }));
        await bus.StartAsync();
        return bus;
    }

    /// <summary>A plain AMQP connection on this virtual host (RabbitMQ.Client), as a producer that is not MassTransit has.</summary>
    public Task<IConnection> ConnectAmqpAsync() => new ConnectionFactory
    {
        HostName = _servers.RabbitMq.Host,
        Port = _servers.RabbitMq.Port,
        VirtualHost = VirtualHost,
        UserName = _servers.RabbitMq.Username,
        Password = _servers.RabbitMq.Password,
    }.CreateConnectionAsync();

    /// <summary>Executions per payment id, from <c>GET &lt;prefix&gt;{&lt;id&gt;}:payment</c> (0 when it never ran), one pipelined read per id.</summary>
    public async Task<long[]> PaymentExecutionsAsync(IEnumerable<string> paymentIds)
    {
        var db = _redis.GetDatabase();
        var values = await Task.WhenAll(paymentIds.Select(id => db.StringGetAsync($"{LedgerPrefix}{{{id}}}:payment")));
        return [.. values.Select(v => v.IsNull ? 0L : (long)v)];
    }

    /// <summary>The ledger's entries of these payments (<c>LRANGE &lt;prefix&gt;{&lt;id&gt;}:entries 0 -1</c> each).</summary>
    public async Task<IReadOnlyList<JsonElement>> LedgerEntriesAsync(IEnumerable<string> paymentIds)
    {
        var db = _redis.GetDatabase();
        var lists = await Task.WhenAll(paymentIds.Select(id => db.ListRangeAsync($"{LedgerPrefix}{{{id}}}:entries")));
        return [.. lists.SelectMany(entries => entries).Select(e => JsonDocument.Parse(e.ToString()).RootElement)];
    }

    /// <summary>Messages a consumer holds without having acknowledged them (<c>rabbitmqctl list_queues messages_unacknowledged</c>).</summary>
    public Task<long> UnacknowledgedAsync(string queue) => ListQueueAsync(queue, "messages_unacknowledged");

    /// <summary>Messages in a queue, ready and unacknowledged (<c>rabbitmqctl list_queues messages</c>); -1 when it does not exist.</summary>
    public Task<long> QueueMessagesAsync(string queue) => ListQueueAsync(queue, "messages");

    async Task<long> ListQueueAsync(string queue, string column) =>
        (await ListQueuesAsync(column)).TryGetValue(queue, out var values) ? long.Parse(values[0], CultureInfo.InvariantCulture) : -1;

    /// <summary>
    /// <c>rabbitmqctl list_queues name &lt;columns&gt;</c> in this virtual host: each queue's values of <paramref name="columns"/>
    /// (e.g. <c>type</c>, <c>arguments</c>), by queue name. Values must not contain spaces.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string[]>> ListQueuesAsync(params string[] columns)
    {
        var output = await _servers.RabbitMq.CtlAsync(["-q", "list_queues", "-p", VirtualHost, "--no-table-headers", "name", .. columns]);
        var queues = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == columns.Length + 1)
                queues[parts[0]] = parts[1..];
        }

        return queues;
    }

    /// <summary>
    /// Messages ready in a queue, from a passive declaration (-1 when it does not exist). Unlike <c>rabbitmqctl
    /// list_queues</c>, which reports a quorum queue's counts from statistics up to 5 s old, this is the count now.
    /// </summary>
    public async Task<long> ReadyMessagesAsync(string queue)
    {
        await using var connection = await ConnectAmqpAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return -1;
        }
    }

    /// <summary>Messages delivered and not yet acknowledged on every channel of this virtual host, now (<c>rabbitmqctl list_channels</c>).</summary>
    public async Task<long> UnacknowledgedNowAsync()
    {
        var output = await _servers.RabbitMq.CtlAsync("-q", "list_channels", "--no-table-headers", "vhost", "messages_unacknowledged");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries))
            .Where(parts => parts.Length == 2 && parts[0] == VirtualHost)
            .Sum(parts => long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// <see cref="SettledExecutionsAsync"/> for quorum queues: <paramref name="queue"/> has no message ready and no channel
    /// of this virtual host holds one unacknowledged, both read now.
    /// </summary>
    public async Task<long[]> SettledExecutionsNowAsync(IReadOnlyList<string> paymentIds, string queue, TimeSpan timeout)
    {
        long[] counts = [];
        (long Ready, long Unacknowledged) left = (-1, -1);
        await Eventually.UntilAsync(
            async () =>
            {
                counts = await PaymentExecutionsAsync(paymentIds);
                if (counts.Any(c => c == 0))
                    return false;
                left = (await ReadyMessagesAsync(queue), await UnacknowledgedNowAsync());
                return left == (0, 0);
            },
            timeout,
            () => $"{counts.Count(c => c > 0)} of {paymentIds.Count} payments in the ledger, {left.Ready} messages ready in '{queue}', {left.Unacknowledged} unacknowledged");
        return counts;
    }

    /// <summary>
    /// Waits until every one of <paramref name="paymentIds"/> is in the ledger and <paramref name="queue"/> holds no
    /// message at all (so every copy was acknowledged: run, skipped, or moved to the error queue), then returns the
    /// executions per payment.
    /// </summary>
    public async Task<long[]> SettledExecutionsAsync(IReadOnlyList<string> paymentIds, string queue, TimeSpan timeout)
    {
        long[] counts = [];
        long messages = -1;
        await Eventually.UntilAsync(
            async () =>
            {
                counts = await PaymentExecutionsAsync(paymentIds);
                if (counts.Any(c => c == 0))
                    return false;
                messages = await QueueMessagesAsync(queue);
                return messages == 0;
            },
            timeout,
            () => $"{counts.Count(c => c > 0)} of {paymentIds.Count} payments in the ledger, {messages} messages left in '{queue}'");
        return counts;
    }

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        await _servers.RabbitMq.CtlAsync("delete_vhost", VirtualHost);
    }
}
