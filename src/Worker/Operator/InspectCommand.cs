using System.CommandLine;

namespace Dedup.Worker.Operator;

/// <summary><c>inspect</c>: a message's dedup record: state, owner, epoch, lease left, fingerprint, completion, result record, TTL.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var target = new RecordTarget();
        var json = new Option<bool>("--json") { Description = "Print the record as JSON." };
        var command = new Command("inspect", "Show a message's dedup record: state, owner, epoch, lease left, fingerprint, completion, result record and TTL.");
        target.AddTo(command);
        command.Options.Add(json);
        OperatorSession.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var key = target.Key(parse, session.Records, session.Configuration.RabbitMq);
            var record = await session.Records.InspectAsync(key, cancellationToken);
            Console.WriteLine(parse.GetValue(json) ? RecordText.Json(record) : RecordText.Human(record));
            return 0;
        });
        return command.AcceptingSettings();
    }
}
